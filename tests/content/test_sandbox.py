"""The bounded sandbox: hostile staff text is refused at once, with the limit it hit.

Nothing here is timed: a template the sandbox failed to bound would hang the test run.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from followup.content.sandbox import render
from followup.content.template_limits import MAX_LENGTH
from followup.exceptions import TemplateProblem

CONTEXT = {"patient": {"first_name": "Zed"}, "clinic": {"name": "Clinic", "phone": "555"}}
NESTED_RANGES = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 9**(9**9) }}", "a power makes a number of more than 1024 bits"),
        ("{% set n = 9**9 %}{{ 9**n }}", "power"),
        ("{% set e = 9 %}{% set n = e**e %}{{ e**n }}", "power"),
        ("{{ 10**300 * 10**300 }}", "a product makes a number of more than 1024 bits"),
        ('{{ "a"*10**8 }}', "repeating makes more than 10000 characters or items"),
        ('{{ 10**8*"a" }}', "repeating"),
        ("{{ [1]*10**8 }}", "repeating"),
        ("{{ (1,)*10**8 }}", "repeating"),
        ("{% set n = 10**8 %}{{ patient.first_name * n }}", "repeating"),
        ("{% set s = 'a'*9999 %}{{ s + s }}", "adding makes more than 10000"),
        ("{% set s = 'aaaaaaaaaa' %}" + "{% set s = s ~ s %}" * 40, "a text of more than 10000"),
        ("{% set t = ('a', 'a') %}" + "{% set t = (t, t) %}" * 40 + "{{ {t: 1} }}", "a value of"),
        ("{% set l = ['a', 'a'] %}" + "{% set l = [l, l] %}" * 40 + "{{ l }}", "a value of"),
        (NESTED_RANGES, "more than 20000 loop steps and calls"),
        (
            "{% for c in 'x'*9999 %}{% for d in 'x'*9999 %}{% endfor %}{% endfor %}",
            "loop steps",
        ),
        ("{% for i in range(10**9) %}{% endfor %}", "range\\(\\) of more than 10000 items"),
        ("{% for i in range(10**30) %}{% endfor %}", "range\\(\\) of more than"),
        ("{{ 'a'.ljust(10**9) }}", "ljust\\(\\) pads to more than 10000 characters"),
        ("{{ 'a'.rjust(10**9) }}", "rjust\\(\\) pads"),
        ("{{ 'a'.center(10**9) }}", "center\\(\\) pads"),
        ("{{ '1'.zfill(10**9) }}", "zfill\\(\\) pads"),
        ("{{ 'ab'.replace('', 'x'*9999) }}", "replace\\(\\) makes more than 10000"),
        ("{{ '{:>999999999}'.format(1) }}", "format\\(\\) is not available in campaign text"),
        ("{{ '{x:>999999999}'.format_map({'x': 1}) }}", "format_map\\(\\) is not available"),
        ("{{ '%999999999d' % 1 }}", "% formatting is not available in campaign text"),
        ("{{ 'a'.expandtabs(10**9) }}", "expandtabs\\(\\) is not available"),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "loop steps and calls",
        ),
        (
            "{% macro twice(s) %}{{ s }}{{ s }}{% endmacro %}{% set s = 'ab' %}"
            + "{% set s = twice(s) %}" * 40,
            "a text of more than 10000",
        ),
        (
            "{% set s = 'x'*9000 %}{% set b %}{% for i in range(9000) %}{{ s }}{% endfor %}"
            "{% endset %}",
            "more than 100000 characters written",
        ),
        ("{% for i in range(2000) %}Keep moving! {% endfor %}", "a text of more than 10000"),
        ("{{ ('9'*4000)|int * ('9'*4000)|int }}", "product"),
        ("{{ ('x'*9999 ~ 'x'*9999)|upper }}", "a text of more than 10000"),
    ],
)
def test_work_over_a_limit_is_refused_with_the_limit(source: str, reason: str) -> None:
    # Time enough that each case meets its own limit first, however busy the machine.
    with pytest.raises(TemplateProblem, match=reason):
        render(source, CONTEXT, seconds=60)


def test_a_render_past_its_time_is_refused() -> None:
    with pytest.raises(TemplateProblem, match="longer than 0 s to render"):
        render("{% for c in patient.first_name %}{{ c }}{% endfor %}", CONTEXT, seconds=0)


def test_limits_hold_in_any_thread() -> None:
    """Celery's and the web app's threads get no signals: the limits do not need them."""
    with ThreadPoolExecutor(2) as pool:
        hostile = pool.submit(render, NESTED_RANGES, CONTEXT)
        friendly = pool.submit(render, "Hi {{ patient.first_name }}", CONTEXT)
        with pytest.raises(TemplateProblem, match="loop steps"):
            hostile.result()
        assert friendly.result() == "Hi Zed"


@pytest.mark.parametrize(
    ("source", "text"),
    [
        (
            "Hi {{ patient.first_name|title }}, {{ clinic.name|upper }} on {{ clinic.phone }}",
            "Hi Zed, CLINIC on 555",
        ),
        ("{% if patient.first_name|length > 2 %}Hello{% else %}Hi{% endif %}!", "Hello!"),
        ("{{ patient.first_name.upper() ~ '!' * 3 }}", "ZED!!!"),
        ("{{ patient.first_name.ljust(5, '.') }}|{{ '7'.zfill(3) }}", "Zed..|007"),
        ("{{ clinic.phone.replace('5', '6') }} {{ 'a b c'.split()|length }}", "666 3"),
        ("{% for c in patient.first_name %}{{ loop.index }}{{ c }}{% endfor %}", "1Z2e3d"),
        ("{% for i in range(3) %}{{ i * 2 }}{% endfor %} {{ 2**10 }} {{ 7 % 3 }}", "024 1024 1"),
        ("{{ 'more' if 10**300 > 10**299 }}", "more"),
        ("{% macro hi(name) %}Hi {{ name }}{% endmacro %}{{ hi(patient.first_name) }}", "Hi Zed"),
        ("{{ (['a', 'b'] + ['c'])|last }} {{ {'k': 1}.get('k') }}", "c 1"),
        ("{{ 'x' * (MAX - 1) }}".replace("MAX", str(MAX_LENGTH)), "x" * (MAX_LENGTH - 1)),
    ],
)
def test_ordinary_text_renders(source: str, text: str) -> None:
    assert render(source, CONTEXT) == text


FIELDS = "fields you can use: {{ patient.first_name }}, {{ clinic.name }}, {{ clinic.phone }}"


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("Hi {{ patient }}", "a group of fields"),
        ("Hi {{ patient.first_name.upper }}", "a method not called (write it with ())"),
        ("{% set n = patient.first_name.split %}{{ n }}", "a method not called (write it with ())"),
        ("{{ patient.first_name.split() }}", "a list"),
        ("{{ range(3) }}", "a list"),
        ("{{ patient.first_name == 'Zed' }}", "`True`"),
        ("{{ none }}", "`None`"),
    ],
)
def test_only_text_and_numbers_are_printed(source: str, kind: str) -> None:
    with pytest.raises(TemplateProblem) as refused:
        render(source, CONTEXT)
    assert str(refused.value) == f"only text and numbers can be printed, not {kind}; {FIELDS}"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("{{ patient.first_name|upper(1) }}", "the filter `upper` does not take these arguments"),
        ("{{ patient.first_name|truncate(foo=1) }}", "the filter `truncate` does not take these"),
        ("{{ patient.first_name|truncate('x') }}", "the filter `truncate` does not work with"),
        ("{{ patient.first_name|round }}", "the filter `round` does not work on text"),
        ("{{ 3|length }}", "the filter `length` does not work on a number"),
    ],
)
def test_a_filter_misused_says_which_and_how(source: str, said: str) -> None:
    with pytest.raises(TemplateProblem, match=f"^{re.escape(said)}"):
        render(source, CONTEXT)
