"""Visits: recording one enrols the patient; moving or cancelling it moves its messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.models import (
    PENDING_STATUSES,
    Message,
    MessageStatus,
    Office,
    Patient,
    Visit,
    utcnow,
)
from followup.plans import enrol, load_plan, move_pending


@dataclass(frozen=True)
class VisitRecord:
    visit: Visit
    created: bool
    messages_added: int
    messages_moved: int


def parse_office(raw: str) -> Office:
    key = raw.strip().lower().replace(" ", "-").replace("_", "-")
    try:
        return Office(key)
    except ValueError:
        names = ", ".join(office.label for office in Office)
        raise InvalidInput(f"office {raw!r} is not one of {names}") from None


def parse_tags(raw: str) -> str:
    tags = [tag.strip().lower() for tag in raw.replace(";", ",").split(",")]
    return ",".join(tag for tag in tags if tag)


def record_visit(
    session: Session,
    *,
    settings: Settings,
    ref: str,
    patient: Patient,
    office: Office,
    clinician: str,
    visited_at: datetime,
    tags: str = "",
    plan_name: str | None = None,
    now: datetime | None = None,
) -> VisitRecord:
    """Record a visit and enrol it. Recording the same ref again is safe: a changed
    time reschedules, anything else changes nothing and sends nothing twice."""
    if visited_at.tzinfo is None:
        raise InvalidInput("visit time needs a time zone")
    if not clinician.strip():
        raise InvalidInput("clinician is required")
    if patient.discharged_at is not None:
        raise InvalidInput(f"patient {patient.ref} has been discharged")
    plan = load_plan(settings.plans_dir, plan_name or settings.default_plan)
    visit = session.scalar(select(Visit).where(Visit.ref == ref))
    if visit is not None and visit.patient_id != patient.id:
        raise InvalidInput(f"visit {ref!r} belongs to another patient")
    if visit is not None and visit.cancelled_at is not None:
        raise InvalidInput(f"visit {ref!r} was cancelled")
    created = visit is None
    if visit is None:
        visit = Visit(ref=ref, patient=patient, visited_at=visited_at, plan=plan.name)
        session.add(visit)
    visit.office = office.value
    visit.clinician = clinician.strip()
    visit.tags = parse_tags(tags)
    moved = 0
    session.flush()
    if not created and visit.visited_at != visited_at:
        moved = reschedule_visit(session, settings=settings, visit=visit, visited_at=visited_at)
    added = enrol(session, visit=visit, plan=plan, settings=settings, now=now)
    return VisitRecord(visit, created, added, moved)


def get_visit(session: Session, ref: str) -> Visit:
    visit = session.scalar(select(Visit).where(Visit.ref == ref))
    if visit is None:
        raise NotFound(f"no visit with ref {ref!r}")
    return visit


def reschedule_visit(
    session: Session, *, settings: Settings, visit: Visit, visited_at: datetime
) -> int:
    """Move the visit and its pending messages; returns how many messages moved."""
    if visit.cancelled_at is not None:
        raise InvalidInput(f"visit {visit.ref!r} was cancelled")
    if visited_at.tzinfo is None:
        raise InvalidInput("visit time needs a time zone")
    visit.visited_at = visited_at
    session.flush()
    plan = load_plan(settings.plans_dir, visit.plan)
    return move_pending(session, visit=visit, plan=plan, settings=settings)


def cancel_visit(session: Session, *, visit: Visit, reason: str) -> int:
    """Cancel the visit and its pending messages; returns how many were cancelled."""
    if not reason.strip():
        raise InvalidInput("a cancellation needs a reason")
    now = utcnow()
    visit.cancelled_at = now
    visit.cancel_reason = reason.strip()
    return _cancel_pending(session, Message.visit_id == visit.id, f"visit cancelled: {reason}")


def discharge_patient(session: Session, *, patient: Patient, reason: str) -> int:
    """Discharge the patient: every pending message of theirs is cancelled."""
    if not reason.strip():
        raise InvalidInput("a discharge needs a reason")
    patient.discharged_at = utcnow()
    return _cancel_pending(session, Message.patient_id == patient.id, f"discharged: {reason}")


def _cancel_pending(session: Session, which: ColumnElement[bool], reason: str) -> int:
    return rows_changed(
        session,
        update(Message)
        .where(which, Message.status.in_(PENDING_STATUSES))
        .values(status=MessageStatus.CANCELLED, last_error=reason.strip(), updated_at=utcnow()),
    )
