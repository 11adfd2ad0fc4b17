"""One-tap answers and notes from check-in emails, an appointment reminder email's
Confirm and Ask to reschedule, and one-click email unsubscribes.

Each is idempotent: a second click finds its row and changes nothing. A tap on an
appointment answer is stored as the patient's C or R would be by text, so the front
desk sees it in the same place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.care.patients import record_consents
from followup.config import Settings
from followup.content.render import Renderer
from followup.models.base import Channel
from followup.models.care import Patient
from followup.models.outbox import Message, Purpose
from followup.models.replies import Reply, Triage
from followup.replies.alerts import raise_alerts
from followup.replies.program_answers import read_answer_text
from followup.replies.recording import alerted_before, reply_row, store_replies, with_trends

# The key of a note sent from a check-in email's page starts with this.
NOTE_KEY = "note-"
# ...and that of a tap on an appointment reminder email's answer.
APPOINTMENT_KEY = "appointment-"


def receive_answer(
    session: Session,
    *,
    settings: Settings,
    renderer: Renderer,
    message_id: int,
    text: str,
    key: str,
    now: datetime,
) -> tuple[Reply, bool] | None:
    """Store a one-tap score or a free-text note sent from a check-in email; returns
    the reply and whether its alert notified staff.

    `key` makes the answer idempotent (the same button twice is one answer). Returns
    None when the message does not exist.
    """
    message = session.get(Message, message_id)
    if message is None:
        return None
    patient = session.get_one(Patient, message.patient_id)
    reading = read_answer_text(text)
    reading = with_trends(
        session, {key: reading}, {key: patient.id}, settings=settings, now=now
    ).get(key, reading)
    row = reply_row(
        provider_id=key,
        channel=Channel.EMAIL,
        from_address=patient.email or "",
        patient_id=patient.id,
        message_id=message.id,
        visit_id=message.visit_id,
        body=text,
        reading=reading,
        now=now,
    )
    reply_id = store_replies(session, [row]).get(key)
    if reply_id is None:
        earlier = session.scalars(select(Reply).where(Reply.provider_id == key)).one()
        return earlier, bool(alerted_before(session, [earlier.id]))
    reply = session.get_one(Reply, reply_id)
    alerted: set[int] = set()
    if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
        alerted = raise_alerts(
            session, [(reply, patient.id)], settings=settings, renderer=renderer, now=now
        )
    return reply, reply.id in alerted


def notes_taken(session: Session, message_id: int) -> int:
    """How many free-text notes came in through the check-in email `message_id`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Reply)
            .where(Reply.message_id == message_id, Reply.provider_id.startswith(NOTE_KEY))
        )
        or 0
    )


def unsubscribe_email(session: Session, *, message_id: int, now: datetime) -> Patient | None:
    """One-click unsubscribe: revoke email consent for every purpose."""
    message = session.get(Message, message_id)
    if message is None:
        return None
    patient = session.get_one(Patient, message.patient_id)
    record_consents(
        session,
        patient,
        {(Channel.EMAIL, purpose): False for purpose in (Purpose.CARE, Purpose.CAMPAIGN)},
        source="email unsubscribe link",
        by="patient",
        at=now,
    )
    return patient
