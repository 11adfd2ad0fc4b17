"""Reminders of a visit's next appointment, and the patient's C or R to them.

A visit with `next_appointment_at` gets one reminder the day before, at the clinic's
hour (`FOLLOWUP_APPOINTMENT_REMINDER_AT`, inside the sending window), on the patient's
preferred channel; it expires an hour before the appointment, so it never goes late.
The step key names the appointment's time: when the appointment moves, the pending
reminder of the old time is cancelled and one for the new time planned; when it is
cancelled (recorded again without one, or its visit cancelled), nothing is sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from followup.care.plans import care_consents, care_message_row, insert_care_messages
from followup.config import Settings
from followup.db import rows_changed
from followup.models.base import Channel
from followup.models.care import Patient, Visit
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus
from followup.schedule import into_sending_window, local_datetime

TEMPLATE = "appointment"
STEP_PREFIX = "appointment-"
# The reminder is no use this close to the appointment.
LAST_USEFUL = timedelta(hours=1)


def reminder_step(visit: Visit) -> str | None:
    """The outbox step of the visit's appointment reminder, or None with no appointment."""
    if visit.next_appointment_at is None:
        return None
    return appointment_step(visit.id, visit.next_appointment_at)


def appointment_step(visit_id: int, booked: datetime) -> str:
    return f"{STEP_PREFIX}{visit_id}-{booked:%Y%m%d%H%M}"


def reminded_appointment(visit: Visit, step: str | None, now: datetime) -> datetime | None:
    """The appointment the reminder with `step` is about, while it is still the visit's
    (not moved or cancelled since) and ahead; None otherwise."""
    booked = visit.next_appointment_at
    if booked is None or booked <= now or visit.cancelled_at is not None:
        return None
    return booked if reminder_step(visit) == step else None


def plan_appointment_reminder(
    session: Session, *, visit: Visit, settings: Settings, now: datetime
) -> int:
    """Plan the reminder of the visit's next appointment (cancelling any for an
    appointment it no longer has); returns how many messages were added."""
    step = reminder_step(visit)
    cancel_appointment_reminders(
        session, visit=visit, reason="appointment moved or cancelled", now=now, keep=step
    )
    if step is None or visit.next_appointment_at is None or visit.cancelled_at is not None:
        return 0
    row = reminder_row(
        visit.patient,
        care_consents(session, visit.patient_id),
        visit_id=visit.id,
        episode_id=visit.episode_id,
        booked=visit.next_appointment_at,
        settings=settings,
        now=now,
    )
    return len(insert_care_messages(session, [row] if row else []))


def reminder_row(
    patient: Patient,
    consents: dict[Channel, bool],
    *,
    visit_id: int,
    episode_id: int,
    booked: datetime,
    settings: Settings,
    now: datetime,
) -> dict[str, Any] | None:
    """The outbox row of the reminder of the visit's appointment at `booked`."""
    return care_message_row(
        patient,
        consents,
        episode_id=episode_id,
        visit_id=visit_id,
        step=appointment_step(visit_id, booked),
        template=TEMPLATE,
        due_at=reminder_due(booked, patient, settings, now),
        # The reminder is no use this close to the appointment (nor one booked too
        # close to remind in the sending window).
        expires_at=booked - LAST_USEFUL,
        settings=settings,
        now=now,
    )


def reminder_due(booked: datetime, patient: Patient, settings: Settings, now: datetime) -> datetime:
    """When the reminder of an appointment at `booked` is due: the day before, at the
    clinic's hour, in the patient's sending window (at once when that is past)."""
    zone = ZoneInfo(patient.timezone)
    due = local_datetime(
        booked.astimezone(zone).date() - timedelta(days=1), settings.appointment_reminder_at, zone
    )
    return into_sending_window(
        max(due, now), zone=zone, start=settings.quiet_hours_start, end=settings.quiet_hours_end
    )


def cancel_appointment_reminders(
    session: Session, *, visit: Visit, reason: str, now: datetime, keep: str | None = None
) -> int:
    """Cancel the visit's pending appointment reminders, but the one for step `keep`."""
    which = [
        Message.visit_id == visit.id,
        Message.step.startswith(STEP_PREFIX),
        Message.status.in_(PENDING_STATUSES),
    ]
    if keep is not None:
        which.append(Message.step != keep)
    return rows_changed(
        session,
        update(Message)
        .where(*which)
        .execution_options(synchronize_session=False)
        .values(status=MessageStatus.CANCELLED, last_error=reason, updated_at=now),
    )
