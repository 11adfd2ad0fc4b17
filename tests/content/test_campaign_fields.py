"""Refusals of a wrong field speak of fields, not of the template engine, and name
the whole expression staff wrote."""

from __future__ import annotations

import pytest

from followup.content.campaign_fields import explain_engine, refusal, wrong_field
from followup.content.template_mistakes import read

FIELDS = "fields you can use: {{ patient.first_name }}, {{ clinic.name }}, {{ clinic.phone }}"


@pytest.mark.parametrize(
    ("field", "said"),
    [
        (
            "patient.firstname",
            "unknown field `patient.firstname` (did you mean `patient.first_name`?)",
        ),
        ("firstname", "unknown field `firstname` (did you mean `patient.first_name`?)"),
        ("clinic.phon", "unknown field `clinic.phon` (did you mean `clinic.phone`?)"),
        ("ssn", "unknown field `ssn`"),
    ],
)
def test_an_unknown_field_names_the_closest_and_every_field(field: str, said: str) -> None:
    assert refusal(field) == f"{said}; {FIELDS}"


def test_the_engine_s_words_are_translated() -> None:
    assert explain_engine("'dict object' has no attribute 'firstname'").startswith(
        "unknown field `firstname` (did you mean `patient.first_name`?)"
    )
    assert explain_engine("'nombre' is undefined").startswith("unknown field `nombre`")
    assert explain_engine("something else") == "something else"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("Hi {{ patient }}", f"`patient` is not a field you can print; {FIELDS}"),
        ("Hi {{ clinic|upper }}", f"`clinic` is not a field you can print; {FIELDS}"),
        (
            "Hi {{ patient.first_name.upper }}",
            "`patient.first_name.upper` is not a field you can print "
            f"(did you mean `patient.first_name|upper`?); {FIELDS}",
        ),
        (
            "Call {{ clinic.phone.strip }}",
            "`clinic.phone.strip` is not a field you can print "
            f"(did you mean `clinic.phone.strip()`?); {FIELDS}",
        ),
        (
            "Hi {{ patient.first_name.x }}",
            f"unknown field `patient.first_name.x` (did you mean `patient.first_name`?); {FIELDS}",
        ),
        (
            "{{ clinic.name.first }}",
            f"unknown field `clinic.name.first` (did you mean `clinic.name`?); {FIELDS}",
        ),
        (
            "Hi {{ patient['first_name']['x'] }}",
            f"unknown field `patient.first_name.x` (did you mean `patient.first_name`?); {FIELDS}",
        ),
        (
            "Hi {{ patient.first_name() }}",
            "`patient.first_name` is a field, not something to call: "
            "write {{ patient.first_name }}",
        ),
        (
            "{% if patient.firstname %}Hi{% endif %}",
            f"unknown field `patient.firstname` (did you mean `patient.first_name`?); {FIELDS}",
        ),
    ],
)
def test_a_field_misused_is_named_whole(source: str, said: str) -> None:
    assert wrong_field(*read(source)) == said


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ patient.first_name }} from {{ clinic.name }} ({{ clinic.phone }})",
        "Hi {{ patient['first_name'] }}",
        "Hi {{ patient.first_name.upper() }} {{ patient.first_name[0] }}.",
        "Call {{ clinic.phone.replace('-', ' ') }}",
        "{% set name = patient.first_name %}Hi {{ name|title }}",
    ],
)
def test_fields_used_as_text_pass(source: str) -> None:
    assert wrong_field(*read(source)) is None


def test_an_attribute_of_text_at_render_suggests_no_unrelated_field() -> None:
    assert explain_engine("'str object' has no attribute 'first'") == (
        f"unknown field `first`; {FIELDS}"
    )
