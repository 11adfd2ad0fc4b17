"""CSV import of patients and visits: every bad row reported, nothing half-written.

The whole file is validated first; a file with any bad row changes nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.patients import PatientDetails, record_consents, save_patient
from followup.care.plans import load_plan
from followup.care.programs import Assigned, parse_program
from followup.care.visits import parse_office, record_visit
from followup.config import Settings
from followup.exceptions import FollowupError, ImportErrors, InvalidInput
from followup.models.base import Channel
from followup.models.care import Office, Patient
from followup.models.outbox import Purpose
from followup.plain_text import CONTROL_CHARACTERS

PATIENT_COLUMNS = ("ref", "first_name", "last_name")
VISIT_COLUMNS = ("ref", "patient_ref", "office", "clinician", "visited_at")
CONSENT_COLUMNS = {
    "sms_consent": (Channel.SMS, Purpose.CARE),
    "email_consent": (Channel.EMAIL, Purpose.CARE),
    "campaign_sms_consent": (Channel.SMS, Purpose.CAMPAIGN),
    "campaign_email_consent": (Channel.EMAIL, Purpose.CAMPAIGN),
}
T = TypeVar("T")
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


@dataclass(frozen=True)
class ImportResult:
    kind: str
    rows: int
    detail: str


@dataclass(frozen=True)
class _VisitRow:
    ref: str
    patient: Patient
    office: Office
    clinician: str
    visited_at: datetime
    tags: str
    plan: str | None
    next_appointment_at: datetime | None
    # The home programme assigned at the visit; None (an empty cell) keeps the current one.
    exercises: list[Assigned] | None


def import_csv(session: Session, path: Path, *, settings: Settings) -> ImportResult:
    """Import a patients or visits file, told apart by its header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from None
    if "patient_ref" in header:
        return _import_visits(session, rows, header, settings)
    if "first_name" in header:
        return _import_patients(session, rows, header, path.name, settings)
    raise InvalidInput(
        f"{path}: unknown file; a patients file has columns {', '.join(PATIENT_COLUMNS)}, "
        f"a visits file {', '.join(VISIT_COLUMNS)}"
    )


def _import_patients(
    session: Session,
    rows: list[tuple[int, dict[str, str]]],
    header: list[str],
    filename: str,
    settings: Settings,
) -> ImportResult:
    _require_columns(header, PATIENT_COLUMNS)
    parsed = _validate(rows, "ref", lambda row: _patient_row(row, settings))
    for details, consents in parsed:
        patient = save_patient(session, details)
        record_consents(session, patient, consents, source=f"csv import {filename}", by="import")
    return ImportResult("patients", len(parsed), f"{len(parsed)} patients imported")


def _patient_row(
    row: dict[str, str], settings: Settings
) -> tuple[PatientDetails, dict[tuple[Channel, Purpose], bool]]:
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
    return details, consents


def _import_visits(
    session: Session, rows: list[tuple[int, dict[str, str]]], header: list[str], settings: Settings
) -> ImportResult:
    _require_columns(header, VISIT_COLUMNS)
    parsed = _validate(rows, "ref", lambda row: _visit_row(session, row, settings))
    added = 0
    for visit in parsed:
        record = record_visit(
            session,
            settings=settings,
            ref=visit.ref,
            patient=visit.patient,
            office=visit.office,
            clinician=visit.clinician,
            visited_at=visit.visited_at,
            tags=visit.tags,
            plan_name=visit.plan,
            next_appointment_at=visit.next_appointment_at,
            exercises=visit.exercises,
        )
        added += record.messages_added
    return ImportResult("visits", len(parsed), f"{len(parsed)} visits, {added} messages planned")


def _visit_row(session: Session, row: dict[str, str], settings: Settings) -> _VisitRow:
    ref = _cell(row, "ref")
    if not ref:
        raise InvalidInput("visit ref is empty")
    patient_ref = _cell(row, "patient_ref")
    patient = session.scalar(select(Patient).where(Patient.ref == patient_ref))
    if patient is None:
        raise InvalidInput(f"no patient with ref {patient_ref!r}")
    clinician = _cell(row, "clinician")
    if not clinician:
        raise InvalidInput("clinician is empty")
    plan = _cell(row, "plan") or None
    load_plan(settings.plans_dir, plan or settings.default_plan)
    zone = ZoneInfo(patient.timezone)
    visited_at = parse_local_time(_cell(row, "visited_at"), zone)
    if patient.discharged_at is not None and visited_at <= patient.discharged_at:
        raise InvalidInput(f"patient {patient_ref!r} was discharged after this visit")
    booked = _cell(row, "next_appointment")
    program = _cell(row, "exercises")
    return _VisitRow(
        ref=ref,
        patient=patient,
        office=parse_office(_cell(row, "office")),
        clinician=clinician,
        visited_at=visited_at,
        tags=_cell(row, "tags"),
        plan=plan,
        next_appointment_at=parse_local_time(booked, zone) if booked else None,
        exercises=parse_program(program, settings.exercises_dir) if program else None,
    )


def parse_local_time(raw: str, zone: ZoneInfo) -> datetime:
    """ISO 8601; a time without an offset is the patient's local time."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"time {raw!r} is not ISO 8601 (e.g. 2026-11-20 14:30)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _validate(
    rows: list[tuple[int, dict[str, str]]], key: str, parse: Callable[[dict[str, str]], T]
) -> list[T]:
    problems: list[tuple[int, str]] = []
    parsed: list[T] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if None in row:
            problems.append((line, "more cells than columns"))
            continue
        garbled = [name for name, value in row.items() if CONTROL_CHARACTERS.search(value or "")]
        if garbled:
            problems.append((line, f"a control character in {', '.join(garbled)}"))
            continue
        ref = _cell(row, key)
        if ref in seen:
            problems.append((line, f"{key} {ref!r} repeats line {seen[ref]}"))
            continue
        seen[ref] = line
        try:
            parsed.append(parse(row))
        except FollowupError as exc:
            problems.append((line, str(exc)))
    if problems:
        raise ImportErrors(problems)
    if not parsed:
        raise InvalidInput("the file has no rows")
    return parsed


def _require_columns(header: list[str], required: tuple[str, ...]) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}")


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()
