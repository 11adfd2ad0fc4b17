import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from followup.care.import_report import VisitsReport
from followup.care.imports import BATCH_ROWS, import_csv
from followup.db import transaction
from followup.delivery.claims import claim_due
from followup.exceptions import ImportErrors, InvalidInput
from followup.models.care import Consent, ConsentEvent, Patient, Visit
from followup.models.outbox import Message, MessageStatus
from followup.runtime import Runtime

PATIENTS = """ref,first_name,last_name,phone,email,preferred_channel,language,timezone,sms_consent,email_consent
P1,Ana,Rivera,(201) 555-0101,ana@example.com,sms,en,America/New_York,yes,yes
P2,Ben,Okafor,,ben@example.com,email,en,,,yes
"""
VISITS = """ref,patient_ref,office,clinician,visited_at,tags
V1,P1,Jersey City,Dr. Lee,2026-11-16 10:00,lower-back
V2,P2,hoboken,Dr. Gomez,2026-11-16T11:30-05:00,lower-back;popping
"""
# The imports run this morning, before the visits: every step of the plan is ahead.
NOW = datetime(2026, 11, 16, 12, tzinfo=UTC)
DAY = NOW.date()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_next_appointment(visits: str) -> str:
    """The visits file with an empty next_appointment column after its last."""
    header, *rows = visits.splitlines()
    return "".join(f"{line}\n" for line in [f"{header},next_appointment", *(f"{r}," for r in rows)])


def run_import(runtime: Runtime, path: Path) -> str:
    return import_csv(runtime.sessions, path, settings=runtime.settings, now=NOW).detail


def visits_report(runtime: Runtime, path: Path) -> VisitsReport:
    report = import_csv(runtime.sessions, path, settings=runtime.settings, now=NOW).visits
    assert report is not None
    return report


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_patients_and_visits_import_and_enrol(runtime: Runtime, tmp_path: Path) -> None:
    assert run_import(runtime, write(tmp_path, "p.csv", PATIENTS)) == (
        "2 patients imported (2 new, 0 updated)"
    )
    first = run_import(runtime, write(tmp_path, "v.csv", VISITS))
    assert first.startswith("2 visits (2 new, 0 already recorded), 14 messages planned\n")
    with runtime.sessions() as session:
        ana = session.scalars(select(Patient).where(Patient.ref == "P1")).one()
        assert ana.phone == "+12015550101"
        v2 = session.scalars(select(Visit).where(Visit.ref == "V2")).one()
        assert v2.tags == "lower-back,popping" and v2.office == "hoboken"
        assert v2.visited_at.hour == 16  # 11:30 EST is 16:30 UTC
    assert count(runtime, Consent) == 3
    # Importing the same visits again plans nothing twice.
    again = run_import(runtime, write(tmp_path, "v.csv", VISITS))
    assert again.startswith("2 visits (0 new, 2 already recorded), 0 messages planned\n")
    assert count(runtime, Message) == 14
    assert run_import(runtime, write(tmp_path, "p.csv", PATIENTS)) == (
        "2 patients imported (0 new, 2 updated)"
    )
    assert count(runtime, Patient) == 2 and count(runtime, Consent) == 3


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
    bad = with_next_appointment(VISITS) + (
        "V3,P9,Hoboken,Dr. Lee,2026-11-16 10:00,,\n"
        "V4,P1,Newark,Dr. Lee,2026-11-16 10:00,,\n"
        "V5,P1,Hoboken,Dr. Lee,yesterday,,\n"
        "V6,P1,Hoboken,,2026-11-16 10:00,,\n"
        "V7,P1,Hoboken,Dr. Lee,2026-11-16 10:00,,2026-11-15 10:00\n"
    )
    with pytest.raises(ImportErrors) as caught:
        run_import(runtime, write(tmp_path, "v.csv", bad))
    assert [line for line, _ in caught.value.problems] == [4, 5, 6, 7, 8]
    assert "must come after the visit" in caught.value.problems[4][1]
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
    booked = with_next_appointment(VISITS).replace(
        "lower-back,\n", f"lower-back,{DAY + timedelta(days=7)} 10:00\n", 1
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


COUNTED_PATIENTS = """ref,first_name,last_name,phone,email,sms_consent,email_consent
P1,Ana,Rivera,(201) 555-0101,ana@example.com,yes,yes
P2,Ben,Okafor,,ben@example.com,,yes
P3,Cleo,Park,(201) 555-0103,,yes,
P4,Dan,Ng,(201) 555-0104,,,
P5,Eve,Li,(201) 555-0105,,no,
"""


def counted_visits() -> str:
    past = DAY - timedelta(days=61)  # every step of the plan expired
    return (
        "ref,patient_ref,office,clinician,visited_at\n"
        f"V1,P1,Hoboken,Dr. Lee,{DAY} 10:00\n"
        f"V2,P2,Hoboken,Dr. Lee,{DAY} 10:00\n"
        f"V3,P3,Hoboken,Dr. Lee,{past} 10:00\n"
        f"V4,P4,Hoboken,Dr. Lee,{DAY} 10:00\n"
        f"V5,P5,Hoboken,Dr. Lee,{DAY} 10:00\n"
    )


def test_the_report_counts_planned_past_and_unconsented_steps(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", COUNTED_PATIENTS))
    visits = write(tmp_path, "v.csv", counted_visits())
    report = visits_report(runtime, visits)
    # 7 steps a visit: V3's all expired before the import; P4 was never asked for SMS
    # consent, P5 said no.
    assert (report.new, report.again, report.planned, report.expired) == (5, 0, 28, 7)
    assert (report.unconsented, report.said_no) == (7, 7)
    assert "already past: 7 plan steps recorded as skipped" in report.detail()
    assert "(7 never asked, 7 with a no on record)" in report.detail()
    with runtime.sessions() as session:
        v3 = session.execute(
            select(Message.status, Message.last_error)
            .join(Visit, Message.visit_id == Visit.id)
            .where(Visit.ref == "V3")
        ).all()
    assert {status for status, _ in v3} == {MessageStatus.SKIPPED}
    assert all("before it was planned" in (error or "") for _, error in v3)
    # Running the same file again changes nothing and plans nothing twice.
    again = visits_report(runtime, visits)
    assert (again.new, again.again, again.planned, again.expired, again.moved) == (0, 5, 0, 0, 0)
    assert count(runtime, Message) == 35 and count(runtime, Visit) == 5


def test_a_file_with_past_future_and_bad_rows_changes_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", COUNTED_PATIENTS))
    bad = counted_visits() + f"V6,P1,Hoboken,Dr. Lee,{DAY} 25:00\n"
    with pytest.raises(ImportErrors, match="1 bad row"):
        run_import(runtime, write(tmp_path, "v.csv", bad))
    assert count(runtime, Visit) == 0 and count(runtime, Message) == 0


def test_dispatch_goes_on_while_a_long_import_writes(runtime: Runtime, tmp_path: Path) -> None:
    """The import writes in short transactions: a dispatcher claiming at the same time
    (on SQLite too) waits its turn instead of failing with "database is locked"."""
    rows = 3 * BATCH_ROWS
    patients = "ref,first_name,last_name,phone,sms_consent\n" + "".join(
        f"P{i},Pat,Load{i},+1201555{i:04d},yes\n" for i in range(rows)
    )
    run_import(runtime, write(tmp_path, "p.csv", patients))
    visits = "ref,patient_ref,office,clinician,visited_at\n" + "".join(
        f"V{i},P{i},Hoboken,Dr. Lee,{DAY} 10:00\n" for i in range(rows)
    )
    path = write(tmp_path, "v.csv", visits)
    done = threading.Event()
    claimed_meanwhile: list[int] = []  # rows claimed while the import still wrote
    failures: list[BaseException] = []

    def dispatch() -> None:
        at = NOW + timedelta(days=2)
        while not done.is_set():
            try:
                batches = claim_due(runtime.sessions, now=at, limit=50, batch_size=50)
            except BaseException as exc:  # noqa: BLE001 - the failure is the finding
                failures.append(exc)
                return
            if not done.is_set():
                claimed_meanwhile.append(sum(len(batch.message_ids) for batch in batches))

    dispatcher = threading.Thread(target=dispatch)
    dispatcher.start()
    try:
        report = visits_report(runtime, path)
    finally:
        done.set()
        dispatcher.join()
    assert not failures, failures
    # The batches written first were committed, due and claimed before the last one.
    assert report.new == rows and sum(claimed_meanwhile) > 0


def test_a_date_that_does_not_exist_is_not_called_a_format_error(
    runtime: Runtime, tmp_path: Path
) -> None:
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    rows = (
        "ref,patient_ref,office,clinician,visited_at\n"
        "V1,P1,Hoboken,Dr. Lee,2026-02-30 10:00\n"
        "V2,P1,Hoboken,Dr. Lee,2026-13-01 10:00\n"
        "V3,P1,Hoboken,Dr. Lee,2026-11-16 25:00\n"
        "V4,P1,Hoboken,Dr. Lee,16/11/2026 10:00\n"
    )
    with pytest.raises(ImportErrors) as caught:
        run_import(runtime, write(tmp_path, "v.csv", rows))
    assert str(caught.value) == (
        "4 bad rows, nothing imported:\n"
        "line 2: time '2026-02-30 10:00' is not a real date: February 2026 has 28 days\n"
        "line 3: time '2026-13-01 10:00' is not a real date: there is no month 13\n"
        "line 4: time '2026-11-16 25:00' is not a real time: there is no hour 25\n"
        "line 5: time '16/11/2026 10:00' is not ISO 8601 (e.g. 2026-11-20 14:30)"
    )
    assert count(runtime, Visit) == 0


def test_visits_after_the_imports_time_are_reported_and_a_year_ahead_refused(
    runtime: Runtime, tmp_path: Path
) -> None:
    """A visit is recorded after it happens: one dated later is likely a mistyped date.
    Within a year it is imported (a test or a rehearsal may run ahead of the clock) and
    the report says so; further ahead it is a bad row."""
    run_import(runtime, write(tmp_path, "p.csv", PATIENTS))
    header = "ref,patient_ref,office,clinician,visited_at\n"
    typo = header + f"V1,P1,Hoboken,Dr. Lee,{DAY} 10:00\nV2,P2,Hoboken,Dr. Lee,2062-11-30 10:00\n"
    with pytest.raises(ImportErrors) as caught:
        run_import(runtime, write(tmp_path, "typo.csv", typo))
    assert str(caught.value) == (
        "1 bad row, nothing imported:\nline 3: visited_at '2062-11-30 10:00' is more than a "
        "year after the import's time: check the year"
    )
    assert count(runtime, Visit) == 0 and count(runtime, Message) == 0
    ahead = header + (
        f"V1,P1,Hoboken,Dr. Lee,{DAY - timedelta(days=1)} 10:00\n"
        f"V2,P2,Hoboken,Dr. Lee,{DAY + timedelta(days=300)} 10:00\n"
        f"V3,P1,Hoboken,Dr. Lee,{DAY + timedelta(days=20)} 10:00\n"
    )
    lines = run_import(runtime, write(tmp_path, "ahead.csv", ahead)).splitlines()
    assert lines[-2:] == [
        "in the future: 2 visits dated after the import's time, the latest 2027-09-12 (line 3): "
        "check the dates",
        "bad rows: 0",
    ]
    assert count(runtime, Visit) == 3


def test_the_report_says_one_visit_and_names_the_plans_not_their_folder(
    runtime: Runtime, tmp_path: Path
) -> None:
    assert run_import(runtime, write(tmp_path, "p.csv", PATIENTS)) == (
        "2 patients imported (2 new, 0 updated)"
    )
    header = "ref,patient_ref,office,clinician,visited_at,plan\n"
    bogus = header + "V1,P1,Hoboken,Dr. Lee,2026-11-15 10:00,bogusplan\n"
    with pytest.raises(ImportErrors) as caught:
        run_import(runtime, write(tmp_path, "bogus.csv", bogus))
    assert str(caught.value) == (
        "1 bad row, nothing imported:\nline 2: no plan named 'bogusplan'; the one plan is lower-back"
    )
    # Two days ago: the welcome's expiry has passed.
    one = header + f"V1,P1,Hoboken,Dr. Lee,{DAY - timedelta(days=2)} 10:00,lower-back\n"
    assert run_import(runtime, write(tmp_path, "one.csv", one)).splitlines()[:2] == [
        "1 visit (1 new, 0 already recorded), 6 messages planned",
        "already past: 1 plan step recorded as skipped, not sent (their expiry had passed "
        "before the import; a re-run plans them no more)",
    ]
