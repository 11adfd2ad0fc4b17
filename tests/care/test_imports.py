from pathlib import Path

import pytest
from sqlalchemy import func, select

from followup.care.imports import import_csv
from followup.db import transaction
from followup.exceptions import ImportErrors, InvalidInput
from followup.models.care import Consent, ConsentEvent, Patient, Visit
from followup.models.outbox import Message
from followup.runtime import Runtime

PATIENTS = """ref,first_name,last_name,phone,email,preferred_channel,language,timezone,sms_consent,email_consent
P1,Ana,Rivera,(201) 555-0101,ana@example.com,sms,en,America/New_York,yes,yes
P2,Ben,Okafor,,ben@example.com,email,en,,,yes
"""
VISITS = """ref,patient_ref,office,clinician,visited_at,tags
V1,P1,Jersey City,Dr. Lee,2026-11-16 10:00,lower-back
V2,P2,hoboken,Dr. Gomez,2026-11-16T11:30-05:00,lower-back;popping
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(runtime: Runtime, path: Path) -> str:
    with transaction(runtime.sessions) as session:
        return import_csv(session, path, settings=runtime.settings).detail


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_patients_and_visits_import_and_enrol(runtime: Runtime, tmp_path: Path) -> None:
    assert run_import(runtime, write(tmp_path, "p.csv", PATIENTS)) == "2 patients imported"
    assert run_import(runtime, write(tmp_path, "v.csv", VISITS)) == "2 visits, 14 messages planned"
    with runtime.sessions() as session:
        ana = session.scalars(select(Patient).where(Patient.ref == "P1")).one()
        assert ana.phone == "+12015550101"
        v2 = session.scalars(select(Visit).where(Visit.ref == "V2")).one()
        assert v2.tags == "lower-back,popping" and v2.office == "hoboken"
        assert v2.visited_at.hour == 16  # 11:30 EST is 16:30 UTC
    assert count(runtime, Consent) == 3
    # Importing the same visits again plans nothing twice.
    assert run_import(runtime, write(tmp_path, "v.csv", VISITS)) == "2 visits, 0 messages planned"
    assert count(runtime, Message) == 14


def test_bad_rows_are_reported_by_line_and_nothing_is_written(
    runtime: Runtime, tmp_path: Path
) -> None:
    bad = PATIENTS + (
        "P3,Cleo,Park,12345,,sms,en,,yes,\n"
        "P4,Dan,Ng,,not-an-email,email,en,,,yes\n"
        "P5,Eve,Li,+12015550105,,sms,fr,,yes,\n"
        "P6,Fay,Ko,+12015550106,,sms,en,Mars/Base,yes,\n"
        "P1,Ana,Again,+12015550107,,sms,en,,yes,\n"
        "P7,Gus,Wu,+12015550108,,sms,en,,maybe,\n"
    )
    with pytest.raises(ImportErrors) as caught:
        run_import(runtime, write(tmp_path, "p.csv", bad))
    lines = dict(caught.value.problems)
    assert sorted(lines) == [4, 5, 6, 7, 8, 9]
    assert "phone '12345'" in lines[4]
    assert "email 'not-an-email'" in lines[5]
    assert "language 'fr'" in lines[6]
    assert "Mars/Base" in lines[7]
    assert "repeats line 2" in lines[8]
    assert "sms_consent 'maybe'" in lines[9]
    assert count(runtime, Patient) == 0 and count(runtime, ConsentEvent) == 0


def test_bad_visit_rows_write_nothing(runtime: Runtime, tmp_path: Path) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    bad = VISITS + (
        "V3,P9,Hoboken,Dr. Lee,2026-11-16 10:00,\n"
        "V4,P1,Newark,Dr. Lee,2026-11-16 10:00,\n"
        "V5,P1,Hoboken,Dr. Lee,yesterday,\n"
        "V6,P1,Hoboken,,2026-11-16 10:00,\n"
    )
    with pytest.raises(ImportErrors) as caught:
        run_import(runtime, write(tmp_path, "v.csv", bad))
    assert [line for line, _ in caught.value.problems] == [4, 5, 6, 7]
    assert "no patient with ref 'P9'" in caught.value.problems[0][1]
    assert "Newark" in caught.value.problems[1][1]
    assert count(runtime, Visit) == 0 and count(runtime, Message) == 0


def test_unknown_or_incomplete_files_are_refused(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown file"):
        run_import(runtime, write(tmp_path, "x.csv", "a,b\n1,2\n"))
    with pytest.raises(InvalidInput, match="missing column"):
        run_import(runtime, write(tmp_path, "p.csv", "ref,first_name\nP1,Ana\n"))
    with pytest.raises(InvalidInput, match="cannot read"):
        run_import(runtime, tmp_path / "missing.csv")


def test_a_next_appointment_is_imported_and_a_visit_before_a_discharge_is_refused(
    runtime: Runtime, tmp_path: Path
) -> None:
    from followup.care.visits import discharge_patient

    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    booked = VISITS.replace(",tags\n", ",tags,next_appointment\n").replace(
        "lower-back\n", "lower-back,2026-11-23 10:00\n", 1
    )
    run_import(runtime, write(tmp_path, "v.csv", booked))
    with transaction(runtime.sessions) as session:
        v1 = session.scalars(select(Visit).where(Visit.ref == "V1")).one()
        assert v1.next_appointment_at is not None and v1.next_appointment_at.hour == 15
        discharge_patient(session, patient=v1.patient, reason="care completed")
    late = "ref,patient_ref,office,clinician,visited_at\nV9,P1,Hoboken,Dr. Lee,2025-11-18 10:00\n"
    with pytest.raises(ImportErrors) as raised:
        run_import(runtime, write(tmp_path, "late.csv", late))
    assert "line 2: patient 'P1' was discharged after this visit" in str(raised.value)
