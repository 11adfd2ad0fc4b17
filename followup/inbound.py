"""What comes back: patients' replies, one-tap answers, unsubscribes, delivery reports.

Each is stored before anything else happens and is idempotent: a Twilio retry or a
second click finds its row and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.alerts import raise_alert
from followup.config import Settings
from followup.db import insert, rows_changed
from followup.models import (
    Channel,
    Consent,
    Message,
    MessageStatus,
    Patient,
    Purpose,
    Reply,
    Triage,
)
from followup.patients import has_consent, record_consents
from followup.render import Renderer
from followup.replies import Reading, is_yes, read_reply

log = logging.getLogger(__name__)
KEYWORD_SOURCE = "sms keyword"
# Delivery states only move forward; a late "sent" after "delivered" changes nothing.
STATUS_RANK = {
    MessageStatus.SENDING: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.UNDELIVERED: 2,
    MessageStatus.FAILED: 2,
}
PROVIDER_STATUS = {
    "accepted": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}


@dataclass(frozen=True)
class Received:
    reply_id: int
    reading: Reading
    duplicate: bool
    patient: Patient | None
    # Consent changed by this reply: "stopped", "restarted" or None.
    consent_change: str | None


def receive_sms(
    session: Session,
    *,
    settings: Settings,
    renderer: Renderer,
    sid: str,
    from_number: str,
    body: str,
    now: datetime,
) -> Received:
    """Store an inbound SMS once per `sid`, then act on it: consent, triage, alert."""
    patient = _sender(session, from_number)
    last = _last_outbound(session, patient.id) if patient else None
    reply_id = _insert_reply(
        session,
        provider_id=sid,
        channel=Channel.SMS,
        from_address=from_number,
        patient_id=patient.id if patient else None,
        message_id=last.id if last else None,
        visit_id=last.visit_id if last else None,
        body=body,
        now=now,
    )
    language = patient.language if patient else None
    reading = read_reply(body, language=language)
    if reply_id is None:
        existing = session.scalars(select(Reply).where(Reply.provider_id == sid)).one()
        return Received(existing.id, reading, True, patient, None)
    reply = session.get_one(Reply, reply_id)
    _store_reading(reply, reading)
    change = None
    if patient is not None:
        change = _keyword_consent(session, patient, reading, body, now)
        if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
            raise_alert(
                session, reply=reply, patient=patient, settings=settings, renderer=renderer, now=now
            )
    else:
        log.warning("SMS %s from an unknown number, stored for staff", sid)
    return Received(reply_id, reading, False, patient, change)


def receive_answer(
    session: Session,
    *,
    settings: Settings,
    renderer: Renderer,
    message_id: int,
    text: str,
    key: str,
    now: datetime,
) -> Reply | None:
    """Store a one-tap score or a free-text note sent from a check-in email.

    `key` makes the answer idempotent (the same button twice is one answer). Returns
    None when the message does not exist.
    """
    message = session.get(Message, message_id)
    if message is None:
        return None
    patient = session.get_one(Patient, message.patient_id)
    reply_id = _insert_reply(
        session,
        provider_id=key,
        channel=Channel.EMAIL,
        from_address=patient.email or "",
        patient_id=patient.id,
        message_id=message.id,
        visit_id=message.visit_id,
        body=text,
        now=now,
    )
    if reply_id is None:
        return session.scalars(select(Reply).where(Reply.provider_id == key)).one()
    reply = session.get_one(Reply, reply_id)
    reading = read_reply(text, language=patient.language)
    _store_reading(reply, reading)
    if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
        raise_alert(
            session, reply=reply, patient=patient, settings=settings, renderer=renderer, now=now
        )
    return reply


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


def record_delivery(
    session: Session,
    *,
    message_id: int,
    provider_sid: str,
    provider_status: str,
    error_code: str | None,
    now: datetime,
) -> MessageStatus | None:
    """Apply a Twilio status callback; returns the new state, or None if ignored."""
    status = PROVIDER_STATUS.get(provider_status.lower())
    message = session.get(Message, message_id)
    if status is None or message is None:
        log.info("status callback ignored: message %s, status %r", message_id, provider_status)
        return None
    if message.provider_id not in (None, provider_sid):
        log.warning("status callback for message %s names another sid %s", message_id, provider_sid)
        return None
    earlier = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    values: dict[str, object] = {"status": status, "provider_id": provider_sid, "updated_at": now}
    if status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        values |= {"error_code": error_code, "last_error": f"carrier reported {provider_status}"}
    if message.sent_at is None:
        values["sent_at"] = now
    changed = rows_changed(
        session,
        update(Message)
        .where(Message.id == message_id, Message.status.in_(earlier))
        .values(**values),
    )
    if not changed:
        return None
    if status is MessageStatus.UNDELIVERED and message.email_fallback:
        _fall_back_to_email(session, message, now)
    return status


def _fall_back_to_email(session: Session, message: Message, now: datetime) -> None:
    if not has_consent(session, message.patient_id, Channel.EMAIL, Purpose(message.purpose)):
        return
    session.execute(
        insert(session, Message)
        .values(
            patient_id=message.patient_id,
            visit_id=message.visit_id,
            step=message.step,
            channel=Channel.EMAIL.value,
            purpose=message.purpose,
            template=message.template,
            email_fallback=False,
            status=MessageStatus.SCHEDULED.value,
            due_at=now,
            expires_at=message.expires_at,
            attempts=0,
            last_error=f"fallback: SMS #{message.id} was undelivered",
            updated_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["visit_id", "step", "channel"])
    )


def _keyword_consent(
    session: Session, patient: Patient, reading: Reading, body: str, now: datetime
) -> str | None:
    purposes = (Purpose.CARE, Purpose.CAMPAIGN)
    if reading.keyword == "stop":
        record_consents(
            session,
            patient,
            {(Channel.SMS, p): False for p in purposes},
            source=f"{KEYWORD_SOURCE} {body.strip()[:20]!r}",
            by="patient",
            at=now,
        )
        return "stopped"
    restart = reading.keyword == "start" or (
        is_yes(body, language=patient.language) and _stopped_by_keyword(session, patient)
    )
    if restart:
        record_consents(
            session,
            patient,
            {(Channel.SMS, p): True for p in purposes},
            source=f"{KEYWORD_SOURCE} {body.strip()[:20]!r}",
            by="patient",
            at=now,
        )
        return "restarted"
    return None


def _stopped_by_keyword(session: Session, patient: Patient) -> bool:
    consent = session.get(Consent, (patient.id, Channel.SMS.value, Purpose.CARE.value))
    return consent is not None and not consent.granted and consent.source.startswith(KEYWORD_SOURCE)


def _sender(session: Session, number: str) -> Patient | None:
    """The patient with this number; if several share it, the one texted last."""
    patients = session.scalars(select(Patient).where(Patient.phone == number)).all()
    if len(patients) <= 1:
        return patients[0] if patients else None
    latest = session.scalar(
        select(Message.patient_id)
        .where(Message.patient_id.in_([p.id for p in patients]), Message.channel == Channel.SMS)
        .order_by(Message.sent_at.desc().nulls_last())
        .limit(1)
    )
    return next((p for p in patients if p.id == latest), patients[0])


def _last_outbound(session: Session, patient_id: int) -> Message | None:
    return session.scalars(
        select(Message)
        .where(
            Message.patient_id == patient_id,
            Message.channel == Channel.SMS,
            Message.purpose != Purpose.ALERT,
            Message.sent_at.is_not(None),
        )
        .order_by(Message.sent_at.desc())
        .limit(1)
    ).first()


def _insert_reply(
    session: Session, *, provider_id: str, now: datetime, **values: object
) -> int | None:
    return session.scalar(
        insert(session, Reply)
        .values(provider_id=provider_id, received_at=now, reasons="", **values)
        .on_conflict_do_nothing(index_elements=["provider_id"])
        .returning(Reply.id)
    )


def _store_reading(reply: Reply, reading: Reading) -> None:
    reply.keyword = reading.keyword
    reply.pain = reading.pain
    reply.triage = reading.triage
    reply.reasons = "; ".join(reading.reasons)
