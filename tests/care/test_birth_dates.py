"""Dates of birth (issue 22, point 1): optional, a real date, not after today nor
before 1900, from a CSV import (the console and the API: tests/console/test_finding.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from followup.care.patients import PatientDetails, parse_birth_date
from followup.exceptions import ImportErrors, InvalidInput
from followup.models.care import Patient
from followup.runtime import Runtime
from tests.care.test_imports import run_import, write

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("typed", "born"),
    [
        ("", None),
        ("  ", None),
        ("1962-03-14", date(1962, 3, 14)),
        ("03/14/1962", date(1962, 3, 14)),
        ("1900-01-01", date(1900, 1, 1)),
        ("2026-12-01", TODAY),  # born today
    ],
)
def test_a_date_of_birth_may_be_given_as_staff_write_it(typed: str, born: date | None) -> None:
    assert parse_birth_date(typed, today=TODAY) == born


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("1899-12-31", "before 1900"),
        ("2026-12-02", "in the future"),
        ("02/30/1980", "not a date: February 1980 has 29 days"),
        ("1980-13-01", "not a date: there is no month 13"),
        ("14/03/1962", "not a date: there is no month 14"),
        ("yesterday", "not a date"),
        ("1962", "not a date"),
    ],
)
def test_a_date_of_birth_that_cannot_be_is_refused(typed: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        parse_birth_date(typed, today=TODAY)


def test_today_is_the_patients_day_not_the_machines() -> None:
    """Late in the evening in New York it is already tomorrow in UTC: tomorrow's date
    is refused there, today's taken."""
    today = datetime.now(ZoneInfo("America/New_York")).date()
    details = PatientDetails.parse(
        ref="P1", first_name="A", last_name="B", email="a@example.com", date_of_birth=str(today)
    )
    assert details.date_of_birth == today
    with pytest.raises(InvalidInput, match="future"):
        PatientDetails.parse(
            ref="P1",
            first_name="A",
            last_name="B",
            email="a@example.com",
            date_of_birth=str(today + timedelta(days=1)),
        )


PATIENTS = """ref,first_name,last_name,email,date_of_birth
P1,Ana,Rivera,ana@example.com,03/14/1962
P2,Ben,Okafor,ben@example.com,
"""


def born(runtime: Runtime, ref: str) -> date | None:
    with runtime.sessions() as session:
        return session.scalar(select(Patient.date_of_birth).where(Patient.ref == ref))


def test_a_csv_import_reads_the_column_and_an_empty_cell_keeps_the_date(
    runtime: Runtime, tmp_path: Path
) -> None:
    assert run_import(runtime, write(tmp_path, "p.csv", PATIENTS)) == (
        "2 patients imported (2 new, 0 updated)"
    )
    assert born(runtime, "P1") == date(1962, 3, 14) and born(runtime, "P2") is None
    again = "ref,first_name,last_name,email,date_of_birth\nP1,Ana,Rivera,ana@example.com,\n"
    run_import(runtime, write(tmp_path, "again.csv", again))
    assert born(runtime, "P1") == date(1962, 3, 14)


def test_a_csv_with_an_impossible_date_writes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    bad = PATIENTS + "P3,Cy,Doe,cy@example.com,1850-01-01\n"
    with pytest.raises(ImportErrors) as refused:
        run_import(runtime, write(tmp_path, "bad.csv", bad))
    assert "before 1900" in str(refused.value) and "line 4" in str(refused.value)
    assert born(runtime, "P1") is None
