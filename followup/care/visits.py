"""Visits: recording one plans the series of its episode of care; moving or cancelling
it moves the series with it (see `followup.care.episodes`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from followup.care.appointments import cancel_appointment_reminders, plan_appointment_reminder
from followup.care.episodes import (
    SeriesChange,
    close_episode,
    episode_for_visit,
    live_visits,
    plan_series,
)
from followup.care.measures import plan_discharge_measures
from followup.care.patients import lock_patients
from followup.care.plans import load_plan
from followup.care.programs import Assigned, assign_program
from followup.config import Settings
from followup.db import rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import utcnow
from followup.models.care import Episode, Office, Patient, Visit
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus


@dataclass(frozen=True)
class VisitRecord:
    visit: Visit
    created: bool
    messages_added: int
    messages_moved: int
    series: SeriesChange  # the plan steps' part of the above, with what was not planned


@dataclass(frozen=True)
class Cancellation:
    cancelled: int  # pending messages cancelled with the visit
    moved: int  # pending messages that now follow the episode's other visits


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
    next_appointment_at: datetime | None = None,
    exercises: list[Assigned] | None = None,
    now: datetime | None = None,
    skip_expired: bool = False,
) -> VisitRecord:
    """Record a visit and plan its episode's series. Recording the same ref again is
    safe: a changed time or next appointment moves the pending steps, anything else
    changes nothing and sends nothing twice. A visit after the patient's discharge
    takes them back into care, in a new episode. `exercises` (when given) are the home
    programme assigned at this visit (`followup.care.programs`); the next appointment
    gets its reminder (`followup.care.appointments`). `skip_expired`: see
    `followup.care.episodes.plan_series`."""
    if visited_at.tzinfo is None or (next_appointment_at and next_appointment_at.tzinfo is None):
        raise InvalidInput("visit and appointment times need a time zone")
    if next_appointment_at is not None and next_appointment_at <= visited_at:
        raise InvalidInput("the next appointment must come after the visit")
    if not clinician.strip():
        raise InvalidInput("clinician is required")
    lock_patients(session, [patient.id])
    if patient.discharged_at is not None:
        if visited_at <= patient.discharged_at:
            raise InvalidInput(
                f"patient {patient.ref} was discharged on {patient.discharged_at:%Y-%m-%d}: "
                "only a later visit can be recorded"
            )
        patient.discharged_at = None
    plan = load_plan(settings.plans_dir, plan_name or settings.default_plan)
    visit = session.scalar(select(Visit).where(Visit.ref == ref))
    if visit is not None and visit.patient_id != patient.id:
        raise InvalidInput(f"visit {ref!r} belongs to another patient")
    if visit is not None and visit.cancelled_at is not None:
        raise InvalidInput(f"visit {ref!r} was cancelled")
    created = visit is None
    if visit is None:
        episode = episode_for_visit(
            session, patient=patient, visited_at=visited_at, settings=settings
        )
        visit = Visit(
            ref=ref, patient=patient, episode_id=episode.id, visited_at=visited_at, plan=plan.name
        )
        session.add(visit)
    visit.office = office.value
    visit.clinician = clinician.strip()
    visit.tags = parse_tags(tags)
    visit.visited_at = visited_at
    if visit.next_appointment_at != next_appointment_at:
        # A new or moved appointment has not been answered yet.
        visit.next_appointment_confirmed_at = None
        visit.next_appointment_reschedule_at = None
    visit.next_appointment_at = next_appointment_at
    session.flush()
    now = now or utcnow()
    if exercises is not None:
        assign_program(session, visit=visit, assigned=exercises, by=visit.clinician, now=now)
    change = plan_series(
        session,
        episode=session.get_one(Episode, visit.episode_id),
        settings=settings,
        now=now,
        skip_expired=skip_expired,
    )
    added = plan_appointment_reminder(session, visit=visit, settings=settings, now=now)
    return VisitRecord(visit, created, change.added + added, change.moved, change)


def get_visit(session: Session, ref: str) -> Visit:
    visit = session.scalar(select(Visit).where(Visit.ref == ref))
    if visit is None:
        raise NotFound(f"no visit with ref {ref!r}")
    return visit


def reschedule_visit(
    session: Session, *, settings: Settings, visit: Visit, visited_at: datetime
) -> int:
    """Move the visit (it stays in its episode) and the series pending after it;
    returns how many messages moved."""
    if visit.cancelled_at is not None:
        raise InvalidInput(f"visit {visit.ref!r} was cancelled")
    if visited_at.tzinfo is None:
        raise InvalidInput("visit time needs a time zone")
    lock_patients(session, [visit.patient_id])
    visit.visited_at = visited_at
    session.flush()
    episode = session.get_one(Episode, visit.episode_id)
    return plan_series(session, episode=episode, settings=settings, now=utcnow()).moved


def cancel_visit(
    session: Session, *, settings: Settings, visit: Visit, reason: str
) -> Cancellation:
    """Cancel the visit. Its episode's pending messages follow the episode's other
    visits; when none is left they are cancelled and the episode closes."""
    if not reason.strip():
        raise InvalidInput("a cancellation needs a reason")
    lock_patients(session, [visit.patient_id])
    now = utcnow()
    visit.cancelled_at = now
    visit.cancel_reason = reason.strip()
    session.flush()
    cancel_appointment_reminders(session, visit=visit, reason="visit cancelled", now=now)
    episode = session.get_one(Episode, visit.episode_id)
    if live_visits(session, episode.id):
        moved = plan_series(session, episode=episode, settings=settings, now=now).moved
        return Cancellation(0, moved)
    close_episode(episode, at=now, reason=f"its visits were cancelled: {reason.strip()}")
    which = Message.episode_id == episode.id
    return Cancellation(_cancel_pending(session, which, f"visit cancelled: {reason}"), 0)


def discharge_patient(
    session: Session, *, patient: Patient, reason: str, settings: Settings | None = None
) -> int:
    """Discharge the patient: the episode of care ends and every pending message of
    theirs is cancelled. A later visit opens a new episode. With `settings`, an episode
    with home exercises gets its discharge outcome form (`followup.care.measures`)."""
    if not reason.strip():
        raise InvalidInput("a discharge needs a reason")
    now = utcnow()
    patient.discharged_at = now
    open_episodes = list(
        session.scalars(
            select(Episode).where(Episode.patient_id == patient.id, Episode.closed_at.is_(None))
        )
    )
    for episode in open_episodes:
        close_episode(episode, at=now, reason=f"discharged: {reason.strip()}")
    cancelled = _cancel_pending(session, Message.patient_id == patient.id, f"discharged: {reason}")
    if settings is not None:
        for episode in open_episodes:
            plan_discharge_measures(
                session, patient=patient, episode=episode, settings=settings, now=now
            )
    return cancelled


def _cancel_pending(session: Session, which: ColumnElement[bool], reason: str) -> int:
    return rows_changed(
        session,
        update(Message)
        .where(which, Message.status.in_(PENDING_STATUSES))
        .values(status=MessageStatus.CANCELLED, last_error=reason.strip(), updated_at=utcnow()),
    )
