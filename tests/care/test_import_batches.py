"""The set-based visits import does what recording each visit alone does."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from followup.care.imports import import_csv
from followup.care.patients import get_patient
from followup.care.visits import parse_office, record_visit
from followup.db import transaction
from followup.models.care import Episode, Patient, Visit
from followup.models.outbox import Message
from followup.runtime import Runtime

NOW = datetime(2026, 11, 16, 12, tzinfo=UTC)
Rows = list[tuple[str, str, str, str, str]]
ZONE = ZoneInfo("America/New_York")
# (visit ref, patient, local time, tags, next appointment): a first visit each; then a
# follow-up in the same episode (the series moves), one after the episode went quiet
# (a new episode), a past visit (its steps already past), a booked appointment, the
# same visit again unchanged, again changed, a patient twice in a file, and a visit
# before the episode's latest.
FIRST: Rows = [
    ("1", "1", "2026-10-01 10:00", "lower-back", ""),
    ("2", "2", "2026-11-10 09:00", "", "2026-11-30 09:00"),
    ("3", "3", "2026-11-14 15:00", "popping", ""),
    ("4", "4", "2026-11-15 08:30", "", ""),
    ("9", "5", "2026-09-01 10:00", "", ""),
    ("12", "6", "2026-11-13 10:00", "", ""),
]
SECOND: Rows = [
    ("1", "1", "2026-10-01 10:00", "lower-back", ""),  # again, unchanged
    ("5", "5", "2026-11-17 10:00", "", ""),  # after the gap: a new episode
    ("2", "2", "2026-11-10 09:00", "", "2026-12-02 09:00"),  # again, appointment moved
    ("6", "3", "2026-11-18 11:00", "", "2026-11-25 11:00"),  # follow-up, booked
    ("7", "4", "2026-11-17 08:30", "", ""),  # twice in the file
    ("8", "4", "2026-11-19 08:30", "lower-back", ""),
    ("11", "6", "2026-11-11 09:00", "popping", ""),  # before the episode's latest
]
PATIENTS = "ref,first_name,last_name,phone,email,sms_consent,email_consent\n" + "".join(
    f"{side}{n},Ana,Diaz{n},+1201555010{n},a{n}@example.com,yes,{'yes' if n % 2 else ''}\n"
    for side in "AB"
    for n in range(1, 7)
)


def _import(runtime: Runtime, tmp_path: Path, rows: Rows) -> None:
    path = tmp_path / "visits.csv"
    lines = ["ref,patient_ref,office,clinician,visited_at,tags,next_appointment"]
    lines += [
        f"AV{ref},A{who},Hoboken,Dr. Lee,{at},{tags},{booked}"
        for ref, who, at, tags, booked in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_csv(runtime.sessions, path, settings=runtime.settings, now=NOW)


def _record(runtime: Runtime, rows: Rows) -> None:
    for ref, who, at, tags, booked in rows:
        with transaction(runtime.sessions) as session:
            record_visit(
                session,
                settings=runtime.settings,
                ref=f"BV{ref}",
                patient=get_patient(session, f"B{who}"),
                office=parse_office("Hoboken"),
                clinician="Dr. Lee",
                visited_at=datetime.fromisoformat(at).replace(tzinfo=ZONE),
                tags=tags,
                next_appointment_at=(
                    datetime.fromisoformat(booked).replace(tzinfo=ZONE) if booked else None
                ),
                now=NOW,
                skip_expired=True,
            )


def _state(runtime: Runtime, side: str) -> list[Any]:
    """Side A's or B's episodes, visits and outbox, with refs and ids made comparable."""
    with runtime.sessions() as session:
        episodes = {
            e.id: n
            for n, e in enumerate(
                session.scalars(
                    select(Episode)
                    .join(Patient, Episode.patient_id == Patient.id)
                    .where(Patient.ref.startswith(side))
                    .order_by(Patient.ref, Episode.opened_at)
                )
            )
        }
        state: list[Any] = [
            (n, e.opened_at, e.closed_at, e.close_reason)
            for e in session.scalars(select(Episode).where(Episode.id.in_(episodes)))
            for n in [episodes[e.id]]
        ]
        visits = {
            v.id: v.ref[1:]
            for v in session.scalars(select(Visit).where(Visit.episode_id.in_(episodes)))
        }
        state += sorted(
            (visits[v.id], episodes[v.episode_id], v.visited_at, v.tags, v.next_appointment_at)
            for v in session.scalars(select(Visit).where(Visit.id.in_(visits)))
        )
        for m in session.scalars(select(Message).where(Message.episode_id.in_(episodes))):
            step = m.step or ""
            for visit_id, ref in visits.items():
                step = step.replace(f"-{visit_id}-", f"-{ref}-")
            state.append(
                (
                    episodes[m.episode_id or 0],
                    visits.get(m.visit_id or 0),
                    step,
                    m.channel,
                    m.status,
                    m.last_error,
                    m.due_at,
                    m.expires_at,
                    m.email_fallback,
                )
            )
    return sorted(state, key=repr)


def test_a_set_based_import_writes_what_visits_recorded_one_by_one_write(
    runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS, encoding="utf-8")
    import_csv(runtime.sessions, tmp_path / "patients.csv", settings=runtime.settings)
    for rows in (FIRST, SECOND, SECOND):  # the second file twice: a re-run
        _import(runtime, tmp_path, rows)
        _record(runtime, rows)
    imported, recorded = _state(runtime, "A"), _state(runtime, "B")
    assert imported == recorded
    assert len(imported) > 30
