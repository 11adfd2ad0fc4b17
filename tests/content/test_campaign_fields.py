"""Refusals of a wrong field speak of fields, not of the template engine."""

from __future__ import annotations

import pytest

from followup.content.campaign_fields import explain_engine, refusal

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
