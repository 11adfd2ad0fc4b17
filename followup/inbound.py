"""What comes back: patients' replies, one-tap answers, unsubscribes, delivery reports.

Each is stored before anything else happens and is idempotent: a Twilio retry or a
second click finds its row and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, text, update
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
    UTCDateTime,
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
    # The sender's language; None when the number belongs to no patient.
    language: str | None
    # Consent changed by this reply: "stopped", "restarted" or None.
    consent_change: str | None


@dataclass(frozen=True)
class _Sender:
    id: int
    ref: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    language: str
    last_message_id: int | None
    last_visit_id: int | None


@dataclass(frozen=True)
class _StoredReply:
    id: int
    body: str
    pain: int | None
    triage: str | None
    reasons: str
    received_at: datetime


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
    """Store an inbound SMS once per `sid`, then act on it: consent, triage, alert.

    A plain reply costs two statements and a commit; consent and alerts add theirs
    only when the reply calls for them.
    """
    sender = _sender(session, from_number)
    language = sender.language if sender else None
    reading = read_reply(body, language=language)
    reply_id = _insert_reply(
        session,
        provider_id=sid,
        channel=Channel.SMS,
        from_address=from_number,
        patient_id=sender.id if sender else None,
        message_id=sender.last_message_id if sender else None,
        visit_id=sender.last_visit_id if sender else None,
        body=body,
        reading=reading,
        now=now,
    )
    if reply_id is None:
        existing = session.scalars(select(Reply.id).where(Reply.provider_id == sid)).one()
        return Received(existing, reading, language, None)
    if sender is None:
        log.warning("SMS %s from an unknown number, stored for staff", sid)
        return Received(reply_id, reading, None, None)
    change = None
    if reading.keyword or is_yes(body, language=language):
        patient = session.get_one(Patient, sender.id)
        change = _keyword_consent(session, patient, reading, body, now)
    if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
        stored = _StoredReply(
            reply_id, body, reading.pain, reading.triage, "; ".join(reading.reasons), now
        )
        raise_alert(
            session, reply=stored, patient=sender, settings=settings, renderer=renderer, now=now
        )
    return Received(reply_id, reading, language, change)


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
    reading = read_reply(text, language=patient.language)
    reply_id = _insert_reply(
        session,
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
    if reply_id is None:
        return session.scalars(select(Reply).where(Reply.provider_id == key)).one()
    reply = session.get_one(Reply, reply_id)
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
    """Apply STOP, START or a YES after an opt-out to both purposes of SMS consent."""
    if reading.keyword == "stop":
        granted = False
    elif reading.keyword == "start" or (
        is_yes(body, language=patient.language) and _stopped_by_keyword(session, patient)
    ):
        granted = True
    else:
        return None
    record_consents(
        session,
        patient,
        {(Channel.SMS, purpose): granted for purpose in (Purpose.CARE, Purpose.CAMPAIGN)},
        source=f"{KEYWORD_SOURCE} {body.strip()[:20]!r}",
        by="patient",
        at=now,
    )
    return "restarted" if granted else "stopped"


def _stopped_by_keyword(session: Session, patient: Patient) -> bool:
    consent = session.get(Consent, (patient.id, Channel.SMS.value, Purpose.CARE.value))
    return consent is not None and not consent.granted and consent.source.startswith(KEYWORD_SOURCE)


# The two statements every inbound SMS runs, as plain SQL both databases read: the
# webhook's throughput depends on them, and SQLAlchemy's statement building and
# caching cost more than the queries themselves.
_LAST_TEXT = """
    SELECT {column} FROM messages m
    WHERE m.patient_id = p.id AND m.channel = 'sms' AND m.purpose <> 'alert'
      AND m.sent_at IS NOT NULL
    ORDER BY m.sent_at DESC LIMIT 1"""
SENDER_SQL = text(
    f"""SELECT p.id, p.ref, p.first_name, p.last_name, p.phone, p.email, p.language,
        ({_LAST_TEXT.format(column="m.id")}),
        ({_LAST_TEXT.format(column="m.visit_id")})
    FROM patients p WHERE p.phone = :number
    ORDER BY ({_LAST_TEXT.format(column="m.sent_at")}) DESC NULLS LAST LIMIT 1"""
)
INSERT_REPLY_SQL = text(
    """INSERT INTO replies (provider_id, channel, from_address, patient_id, message_id, visit_id,
        body, keyword, pain, triage, reasons, received_at)
    VALUES (:provider_id, :channel, :from_address, :patient_id, :message_id, :visit_id,
        :body, :keyword, :pain, :triage, :reasons, :received_at)
    ON CONFLICT (provider_id) DO NOTHING RETURNING id"""
).bindparams(bindparam("received_at", type_=UTCDateTime()))


def _sender(session: Session, number: str) -> _Sender | None:
    """The patient with this number (if several share it, the one texted last), with
    the last text we sent them."""
    row = session.connection().execute(SENDER_SQL, {"number": number}).first()
    return _Sender(*row) if row else None


def _insert_reply(
    session: Session,
    *,
    provider_id: str,
    channel: Channel,
    from_address: str,
    patient_id: int | None,
    message_id: int | None,
    visit_id: int | None,
    body: str,
    reading: Reading,
    now: datetime,
) -> int | None:
    """Insert the reply with its reading; None if `provider_id` was stored before."""
    return session.connection().scalar(
        INSERT_REPLY_SQL,
        {
            "provider_id": provider_id,
            "channel": channel.value,
            "from_address": from_address,
            "patient_id": patient_id,
            "message_id": message_id,
            "visit_id": visit_id,
            "body": body,
            "keyword": reading.keyword,
            "pain": reading.pain,
            "triage": reading.triage,
            "reasons": "; ".join(reading.reasons),
            "received_at": now,
        },
    )
