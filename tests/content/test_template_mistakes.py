"""Mistakes in how a campaign text is written are said in staff's words, never in
Jinja2's ("print statement", "<introspection>"), and a stray brace is found."""

from __future__ import annotations

import pytest

from followup.content.template_mistakes import read, stray_brace
from followup.exceptions import TemplateProblem

FILTERS = (
    "abs, capitalize, count, d, default, first, float, int, last, length, lower, round, "
    "string, title, trim, truncate, upper, wordcount"
)
FIELDS_ARE_WRITTEN = "fields are written {{ patient.first_name }}"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("Hi {{ patient.first_name", "a `{{` is not closed with `}}`"),
        ("Hi {{ patient.first_name }", "a `{{` is not closed with `}}`"),
        ("Hi {% if patient.first_name }}", "a `{%` is not closed with `%}`"),
        (
            "Hi {{ patient.first_name | upperr }}",
            f"`upperr` is not a filter you can use (did you mean `upper`?); filters: {FILTERS}",
        ),
        ("Hi {{ patient.first_name|e }}", f"`e` is not a filter you can use; filters: {FILTERS}"),
        ("Hi {% if patient.first_name %}there", "a `{% if %}` is not closed with `{% endif %}`"),
        ("{% for c in patient.first_name %}x", "a `{% for %}` is not closed with `{% endfor %}`"),
        ("Hi {{ }}", f"a `{{{{ }}}}` is empty: write a field in it; {FIELDS_ARE_WRITTEN}"),
        (
            "Hi {% if %}x{% endif %}",
            "`{% if %}` needs a condition, e.g. {% if patient.first_name %}",
        ),
        ("Hi{% endif %}", "`{% endif %}` has no `{% if %}` before it to close"),
        ("Hi{% else %}", "`{% else %}` has no `{% if %}` before it"),
        (
            "{% if patient.first_name %}{% for c in 'ab' %}{% endif %}",
            "`{% endif %}` is out of place: close the `{% for %}` before it with "
            "`{% endfor %}` first",
        ),
        (
            "{% break %}",
            "`{% break %}` is not a tag you can use; tags: {% if %}, {% for %}, {% set %}, "
            "{% macro %}, {% raw %}",
        ),
        ("{# a note", "a `{#` note is not closed with `#}`"),
        ("{% raw %}Hi", "a `{% raw %}` is not closed with `{% endraw %}`"),
        ("{{ 'Hi }}", "a quote (') is not closed"),
        ("{{ patient.first_name|truncate(5 }}", "a `(` is not closed with `)`"),
        ("{{ patient.first_name|truncate(,) }}", "`,` is out of place"),
        ("{{ patient.first_name ~ }}", "something is missing before `}}`"),
        ("{{ patient.first_name | }}", "a name is missing before `}}`"),
        (
            "{{ patient.first name }}",
            f"`name` is out of place in `{{{{ … }}}}`; {FIELDS_ARE_WRITTEN}",
        ),
        ("{{{patient.first_name}}}", f"a brace is out of place: {FIELDS_ARE_WRITTEN}"),
        ("{{ 1" + "0" * 5000 + " }}", "a number is too long"),
        ("{% include 'other' %}", "`{% include %}` is not available in campaign text"),
        (
            "Hi {{ patient.first_name }},\nsee you {{ clinic.name",
            "a `{{` is not closed with `}}` (line 2)",
        ),
    ],
)
def test_a_mistake_is_said_in_plain_words(source: str, said: str) -> None:
    with pytest.raises(TemplateProblem) as refused:
        read(source)
    assert str(refused.value) == said


@pytest.mark.parametrize(
    ("source", "near"),
    [
        ("Hi { patient.first_name }}, rebook.", "{ patient.first_name }}"),
        ("Hi {{patient.first_name}}}", "{{patient.first_name}}}"),
        ("Hola {nombre}, reserve", "{nombre}"),
        ("Hi { {{ patient.first_name }}", "{ {{ patient.first_name }}"),
        ("See you soon }", "See you soon }"),
        ("{%- raw %}{{ patient.first_name }}{% endraw %}", "{{ patient.first_name }}"),
        ("Hi {{ '{' }}", "'{'"),
    ],
)
def test_a_brace_left_over_is_found_near_where_it_is(source: str, near: str) -> None:
    read(source)  # Jinja2 reads each as it is
    assert stray_brace(source) == f"a brace is left over near `{near}`: {FIELDS_ARE_WRITTEN}"


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ patient.first_name }}, {# a note #}rebook {% if clinic.name %}today{% endif %}.",
        "Hi {{- patient.first_name -}} !",
    ],
)
def test_fields_tags_and_notes_are_not_stray_braces(source: str) -> None:
    read(source)
    assert stray_brace(source) is None
