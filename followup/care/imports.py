"""CSV import of patients and visits: every bad row reported, nothing half-written.

The header is checked first (`followup.care.import_files`), then the whole file is
validated (a query per few hundred rows for the patients and visits it names); a file
with any bad row changes nothing. Then it is written in
batches of `BATCH_ROWS` rows, one short transaction each, so that dispatch and the
console go on meanwhile (SQLite included: see `followup.db`). A re-run of the same
file changes nothing and plans nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from followup.care.import_files import CsvFile, FileKind, Rows, read_csv_file
from followup.care.import_report import VisitsReport, amount
from followup.care.patients import PatientDetails, apply_details, lock_patients, record_consents
from followup.care.plans import load_plan
from followup.care.programs import parse_program
from followup.care.typed_times import parse_local_time
from followup.care.visit_batches import VisitRow, record_batch
from followup.care.visits import parse_office, record_visit
from followup.config import Settings
from followup.db import dialect_name, transaction
from followup.exceptions import FollowupError, ImportErrors, InvalidInput
from followup.models.base import Channel, utcnow
from followup.models.care import Consent, Patient, Visit
from followup.models.outbox import Purpose
from followup.plain_text import CONTROL_CHARACTERS

CONSENT_COLUMNS = {
    "sms_consent": (Channel.SMS, Purpose.CARE),
    "email_consent": (Channel.EMAIL, Purpose.CARE),
    "campaign_sms_consent": (Channel.SMS, Purpose.CAMPAIGN),
    "campaign_email_consent": (Channel.EMAIL, Purpose.CAMPAIGN),
}
PATIENTS_FILE = FileKind(
    "patients",
    marker="first_name",
    required=("ref", "first_name", "last_name"),
    optional=(
        "phone",
        "email",
        "preferred_channel",
        "language",
        "timezone",
        *CONSENT_COLUMNS,
        "date_of_birth",
    ),
)
VISITS_FILE = FileKind(
    "visits",
    marker="patient_ref",
    required=("ref", "patient_ref", "office", "clinician", "visited_at"),
    optional=("tags", "plan", "next_appointment", "exercises"),
)
# A visit dated further after the import's time is refused: a mistyped year.
FURTHEST_AHEAD = timedelta(days=365)
SQLITE_TURN_SECONDS = 0.15
BATCH_ROWS = 200  # rows per transaction (SQLite writers wait at most one), and per look-up
T = TypeVar("T")
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}
# Told (rows written, rows in the file) after each batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportResult:
    kind: str
    rows: int
    detail: str
    visits: VisitsReport | None = None


@dataclass(frozen=True)
class _PatientRow:
    line: int
    details: PatientDetails
    consents: dict[tuple[Channel, Purpose], bool]


@dataclass(frozen=True)
class _Known:
    """What validation needs of the patients and visits a visits file names."""

    patients: dict[str, tuple[int, str, datetime | None]]  # ref: id, zone, discharged
    visits: dict[str, tuple[int, datetime | None]]  # ref: patient id, cancelled


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    *,
    settings: Settings,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import a patients or visits file, told apart by its header. `now` (default: the
    clock at each batch) decides which plan steps are already past."""
    file = read_csv_file(path, (VISITS_FILE, PATIENTS_FILE))
    tell = progress or (lambda done, total: None)
    if file.kind is VISITS_FILE:
        return _import_visits(sessions, file, settings, tell, now)
    return _import_patients(sessions, file, settings, tell)


def _import_patients(
    sessions: sessionmaker[Session], file: CsvFile, settings: Settings, progress: Progress
) -> ImportResult:
    parsed = _validate(file, "ref", lambda line, row: _patient_row(line, row, settings))
    new, source = 0, f"csv import {file.path.name}"
    for done, batch in _batches(sessions, parsed, progress):
        session, refs = batch.session, [row.details.ref for row in batch.rows]
        known = {p.ref: p for p in session.scalars(select(Patient).where(Patient.ref.in_(refs)))}
        # Their consents into the session, so that recording one finds it there.
        ids = [patient.id for patient in known.values()]
        session.scalars(select(Consent).where(Consent.patient_id.in_(ids))).all()
        patients = []
        for row in batch.rows:
            patient = known.get(row.details.ref) or Patient(ref=row.details.ref)
            new += patient.id is None
            apply_details(patient, row.details)
            session.add(patient)
            patients.append(patient)
        session.flush()
        for row, patient in zip(batch.rows, patients, strict=True):
            with _at_line(row.line, done):
                record_consents(session, patient, row.consents, source=source, by="import")
    detail = f"{amount(len(parsed), 'patient')} imported ({new} new, {len(parsed) - new} updated)"
    return ImportResult("patients", len(parsed), detail)


def _patient_row(line: int, row: dict[str, str], settings: Settings) -> _PatientRow:
    details = PatientDetails.parse(
        ref=_cell(row, "ref"),
        first_name=_cell(row, "first_name"),
        last_name=_cell(row, "last_name"),
        phone=_cell(row, "phone"),
        email=_cell(row, "email"),
        preferred_channel=_cell(row, "preferred_channel"),
        language=_cell(row, "language"),
        timezone=_cell(row, "timezone"),
        date_of_birth=_cell(row, "date_of_birth"),
        default_timezone=settings.default_timezone,
    )
    consents = {}
    for column, key in CONSENT_COLUMNS.items():
        value = _cell(row, column).lower()
        if value in YES:
            consents[key] = True
        elif value in NO:
            consents[key] = False
        elif value:
            raise InvalidInput(f"{column} {value!r} is not yes or no")
    return _PatientRow(line, details, consents)


def _import_visits(
    sessions: sessionmaker[Session],
    file: CsvFile,
    settings: Settings,
    progress: Progress,
    at: datetime | None,
) -> ImportResult:
    started = at or utcnow()
    with sessions() as session:
        known = _look_up(session, file.rows)
    parsed = _validate(
        file, "ref", lambda line, row: _visit_row(line, row, known, settings, started)
    )
    report = VisitsReport()
    ahead = [row for row in parsed if row.visited_at > started]
    if ahead:
        latest = max(ahead, key=lambda row: row.visited_at)
        report.ahead, report.latest_ahead = len(ahead), (latest.visited_at.date(), latest.line)
    for done, batch in _batches(sessions, parsed, progress):
        session, ids = batch.session, [visit.patient_id for visit in batch.rows]
        patients = {p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_(ids)))}
        lock_patients(session, ids)
        now = at or utcnow()
        rare = record_batch(
            session,
            batch.rows,
            patients,
            settings=settings,
            now=now,
            report=report,
            at_line=lambda line, done=done: _at_line(line, done),  # type: ignore[misc]
        )
        for visit in rare:
            with _at_line(visit.line, done):
                patient = patients[visit.patient_id]
                recorded = record_visit(
                    session,
                    settings=settings,
                    patient=patient,
                    now=now,
                    skip_expired=True,
                    **visit.details(),
                )
                report.add(recorded)
    return ImportResult("visits", len(parsed), report.detail(), report)


def _look_up(session: Session, rows: Rows) -> _Known:
    """The patients and the already recorded visits the file names, a query a batch."""
    known = _Known({}, {})
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = [row for _, row in rows[start : start + BATCH_ROWS]]
        patient_refs = {_cell(row, "patient_ref") for row in chunk}
        for ref, patient_id, zone, discharged in session.execute(
            select(Patient.ref, Patient.id, Patient.timezone, Patient.discharged_at).where(
                Patient.ref.in_(patient_refs)
            )
        ):
            known.patients[ref] = (patient_id, zone, discharged)
        visit_refs = {_cell(row, "ref") for row in chunk}
        for ref, patient_id, cancelled in session.execute(
            select(Visit.ref, Visit.patient_id, Visit.cancelled_at).where(Visit.ref.in_(visit_refs))
        ):
            known.visits[ref] = (patient_id, cancelled)
    return known


def _visit_row(
    line: int, row: dict[str, str], known: _Known, settings: Settings, started: datetime
) -> VisitRow:
    ref = _cell(row, "ref")
    if not ref:
        raise InvalidInput("visit ref is empty")
    patient_ref = _cell(row, "patient_ref")
    if patient_ref not in known.patients:
        raise InvalidInput(f"no patient with ref {patient_ref!r}")
    patient_id, timezone, discharged_at = known.patients[patient_ref]
    recorded = known.visits.get(ref)
    if recorded is not None and recorded[0] != patient_id:
        raise InvalidInput(f"visit {ref!r} belongs to another patient")
    if recorded is not None and recorded[1] is not None:
        raise InvalidInput(f"visit {ref!r} was cancelled")
    clinician = _cell(row, "clinician")
    if not clinician:
        raise InvalidInput("clinician is empty")
    plan = _cell(row, "plan") or None
    load_plan(settings.plans_dir, plan or settings.default_plan)
    zone = ZoneInfo(timezone)
    visited_at = parse_local_time(_cell(row, "visited_at"), zone)
    if visited_at > started + FURTHEST_AHEAD:
        raise InvalidInput(
            f"visited_at {_cell(row, 'visited_at')!r} is more than a year after the import's "
            "time: check the year"
        )
    if discharged_at is not None and visited_at <= discharged_at:
        raise InvalidInput(f"patient {patient_ref!r} was discharged after this visit")
    booked = _cell(row, "next_appointment")
    next_appointment_at = parse_local_time(booked, zone) if booked else None
    if next_appointment_at is not None and next_appointment_at <= visited_at:
        raise InvalidInput("the next appointment must come after the visit")
    program = _cell(row, "exercises")
    return VisitRow(
        line=line,
        ref=ref,
        patient_id=patient_id,
        office=parse_office(_cell(row, "office")),
        clinician=clinician,
        visited_at=visited_at,
        tags=_cell(row, "tags"),
        plan_name=plan,
        next_appointment_at=next_appointment_at,
        exercises=parse_program(program, settings.exercises_dir) if program else None,
    )


@dataclass(frozen=True)
class _Batch(Generic[T]):
    session: Session
    rows: Sequence[T]


def _batches(
    sessions: sessionmaker[Session], rows: list[T], progress: Progress
) -> Iterator[tuple[int, _Batch[T]]]:
    """`rows` in batches, each in a transaction of its own: yields (rows written before
    the batch, the batch); reports progress after each commit."""
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start : start + BATCH_ROWS]
        with transaction(sessions) as session:
            yield start, _Batch(session, chunk)
            sqlite = dialect_name(session) == "sqlite"
        progress(start + len(chunk), len(rows))
        if sqlite and start + BATCH_ROWS < len(rows):
            # SQLite queues no one: a writer waiting on the lock polls (every 100 ms at
            # most), and would never see it free between two batches without a pause.
            time.sleep(SQLITE_TURN_SECONDS)


@contextmanager
def _at_line(line: int, done: int) -> Iterator[None]:
    """A row that fails while being written (the data changed since validation) stops
    the import at its line; the batches before it stay written."""
    try:
        yield
    except FollowupError as exc:
        raise InvalidInput(
            f"line {line}: {exc}; stopped there: the {done} rows before its batch were "
            "imported (running the file again imports the rest and repeats nothing)"
        ) from None


def _validate(file: CsvFile, key: str, parse: Callable[[int, dict[str, str]], T]) -> list[T]:
    """Every row parsed, or `ImportErrors` with each bad row's line and reason."""
    problems = list(file.unread)
    parsed: list[T] = []
    seen: dict[str, int] = {}
    for line, row in file.rows:
        garbled = [name for name, value in row.items() if CONTROL_CHARACTERS.search(value)]
        if garbled:
            problems.append((line, f"a control character in {', '.join(garbled)}"))
            continue
        ref = _cell(row, key)
        if ref in seen:
            problems.append((line, f"{key} {ref!r} repeats line {seen[ref]}"))
            continue
        seen[ref] = line
        try:
            parsed.append(parse(line, row))
        except FollowupError as exc:
            problems.append((line, str(exc)))
    if problems:
        raise ImportErrors(sorted(problems))
    return parsed


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()
