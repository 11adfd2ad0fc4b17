"""What comes back: patients' replies, one-tap answers, unsubscribes, delivery reports.

Each is stored before anything else happens and is idempotent: a Twilio retry or a
second click finds its row and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from followup.alerts import raise_alerts
from followup.config import Settings
from followup.db import insert, insert_rows, rows_changed
from followup.models import (
    Alert,
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
from followup.pain_trend import earlier_scores, trend_reason
from followup.patients import has_consent, record_consents
from followup.reconcile import NOTE
from followup.render import Renderer
from followup.replies import Reading, is_yes, read_reply

log = logging.getLogger(__name__)
KEYWORD_SOURCE = "sms keyword"
# Delivery states only move forward; a late "sent" after "delivered" changes nothing.
STATUS_RANK = {
    # A callback for a row waiting to be sent again proves its earlier attempt went out.
    MessageStatus.SCHEDULED: 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.UNDELIVERED: 2,
    MessageStatus.FAILED: 2,
}
# Rows whose earlier send was in doubt or is to be retried: a callback proves it went out.
UNSETTLED = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.UNKNOWN)
# The key of a note sent from a check-in email's page starts with this.
NOTE_KEY = "note-"
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
    # A notification about this reply was queued to staff.
    alerted: bool = False


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


@dataclass(frozen=True)
class InboundSms:
    """An inbound text as Twilio posted it."""

    sid: str
    from_number: str
    body: str


def receive_sms(
    session: Session,
    *,
    settings: Settings,
    renderer: Renderer,
    messages: Sequence[InboundSms],
    now: datetime,
) -> list[Received]:
    """Store inbound texts once per `sid`, then act on each: consent, triage, alert.

    A batch costs what one text costs: a look-up of the senders, an insert of the
    replies and, when some carry warning signs, an insert of alerts and one of their
    notices; consent changes add theirs. Results come back in the order given.
    """
    senders = _senders(session, {sms.from_number for sms in messages})
    firsts: dict[str, InboundSms] = {}
    for sms in messages:
        firsts.setdefault(sms.sid, sms)
    readings = {sid: read_reply(sms.body) for sid, sms in firsts.items()}
    patients = {
        sid: senders[sms.from_number].id
        for sid, sms in firsts.items()
        if sms.from_number in senders
    }
    readings |= _with_trends(session, readings, patients, settings=settings, now=now)
    rows = []
    for sms in firsts.values():
        sender = senders.get(sms.from_number)
        reading = readings[sms.sid]
        rows.append(
            _reply_row(
                provider_id=sms.sid,
                channel=Channel.SMS,
                from_address=sms.from_number,
                patient_id=sender.id if sender else None,
                message_id=sender.last_message_id if sender else None,
                visit_id=sender.last_visit_id if sender else None,
                body=sms.body,
                reading=reading,
                now=now,
            )
        )
    stored = _store_replies(session, rows)
    to_alert: list[tuple[_StoredReply, int]] = []
    changes: dict[str, str | None] = {}
    for sms in firsts.values():
        sender, reading = senders.get(sms.from_number), readings[sms.sid]
        if sms.sid not in stored:
            continue
        if sender is None:
            log.warning("SMS %s from an unknown number, stored for staff", sms.sid)
            continue
        if reading.keyword or is_yes(sms.body):
            patient = session.get_one(Patient, sender.id)
            changes[sms.sid] = _keyword_consent(session, patient, reading, sms.body, now)
        if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
            reasons = "; ".join(reading.reasons)
            reply = _StoredReply(
                stored[sms.sid], sms.body, reading.pain, reading.triage, reasons, now
            )
            to_alert.append((reply, sender.id))
    alerted = raise_alerts(session, to_alert, settings=settings, renderer=renderer, now=now)
    earlier = _reply_ids(session, [sid for sid in readings if sid not in stored])
    alerted |= _alerted_before(session, list(earlier.values()))
    results = []
    for sms in messages:
        sender = senders.get(sms.from_number)
        reply_id = stored.get(sms.sid) or earlier[sms.sid]
        results.append(
            Received(
                reply_id,
                readings[sms.sid],
                sender.language if sender else None,
                changes.get(sms.sid),
                reply_id in alerted,
            )
        )
    return results


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
    reading = read_reply(text)
    reading = _with_trends(
        session, {key: reading}, {key: patient.id}, settings=settings, now=now
    ).get(key, reading)
    row = _reply_row(
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
    reply_id = _store_replies(session, [row]).get(key)
    if reply_id is None:
        earlier = session.scalars(select(Reply).where(Reply.provider_id == key)).one()
        return earlier, bool(_alerted_before(session, [earlier.id]))
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
    values: dict[str, object] = {
        "status": status,
        "provider_id": provider_sid,
        "settle_at": None,
        "updated_at": now,
    }
    if status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        values |= {"error_code": error_code, "last_error": f"carrier reported {provider_status}"}
    elif message.status in UNSETTLED:
        cause = (message.last_error or "").split(NOTE)[0]
        values["last_error"] = f"{cause}{NOTE}confirmed by Twilio's status callback"
    if message.sent_at is None:
        values["sent_at"] = now
    if message.status not in earlier:
        return None
    _release_to_owner(session, provider_sid, message_id, now)
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


def _release_to_owner(session: Session, provider_sid: str, owner_id: int, now: datetime) -> None:
    """The callback's URL names the message's own row: a look-up that credited the same
    provider message to another row was wrong, and that row is unknown again."""
    session.execute(
        update(Message)
        .where(Message.provider_id == provider_sid, Message.id != owner_id)
        .values(
            provider_id=None,
            status=MessageStatus.UNKNOWN,
            settle_at=now,
            last_error=f"its provider message belongs to message #{owner_id}",
            updated_at=now,
        )
    )


def _fall_back_to_email(session: Session, message: Message, now: datetime) -> None:
    if not has_consent(session, message.patient_id, Channel.EMAIL, Purpose(message.purpose)):
        return
    session.execute(
        insert(session, Message)
        .values(
            patient_id=message.patient_id,
            visit_id=message.visit_id,
            episode_id=message.episode_id,
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
        .on_conflict_do_nothing(index_elements=["episode_id", "step", "channel"])
    )


def _keyword_consent(
    session: Session, patient: Patient, reading: Reading, body: str, now: datetime
) -> str | None:
    """Apply STOP, START or a YES after an opt-out to both purposes of SMS consent."""
    if reading.keyword == "stop":
        granted = False
    elif reading.keyword == "start" or (is_yes(body) and _stopped_by_keyword(session, patient)):
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


# Plain SQL both databases read: statement building cost more than the query. The
# numbers go as one array on PostgreSQL (one statement, prepared once), as a list on SQLite.
_LAST_TEXT = """(
        SELECT m.{column} FROM messages m
        WHERE m.patient_id = p.id AND m.channel = 'sms' AND m.purpose <> 'alert'
          AND m.sent_at IS NOT NULL
        ORDER BY m.sent_at DESC LIMIT 1)"""
_SENDERS = f"""
    SELECT p.id, p.ref, p.first_name, p.last_name, p.phone, p.email, p.language,
        {_LAST_TEXT.format(column="id")} AS last_message_id,
        {_LAST_TEXT.format(column="visit_id")} AS last_visit_id,
        {_LAST_TEXT.format(column="sent_at")} AS last_sent_at
    FROM patients p WHERE {{numbers}}"""
SENDERS_SQL = {
    "postgresql": text(
        _SENDERS.format(numbers="p.phone = ANY(CAST(:numbers AS varchar[]))")
    ).columns(last_sent_at=UTCDateTime()),
    "sqlite": text(_SENDERS.format(numbers="p.phone IN :numbers"))
    .bindparams(bindparam("numbers", expanding=True))
    .columns(last_sent_at=UTCDateTime()),
}
NEVER = datetime.min.replace(tzinfo=UTC)


def _senders(session: Session, numbers: set[str]) -> dict[str, _Sender]:
    """The patient behind each number (if several share it, the one texted last,
    then the newest), with the last text we sent them."""
    if not numbers:
        return {}
    statement = SENDERS_SQL[session.get_bind().dialect.name]
    rows = sorted(
        session.connection().execute(statement, {"numbers": sorted(numbers)}),
        key=lambda row: (row.last_sent_at or NEVER, row.id),
    )
    return {row.phone: _Sender(*row[:-1]) for row in rows}


def _reply_row(
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
) -> dict[str, object]:
    return {
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
    }


def _store_replies(session: Session, rows: list[dict[str, object]]) -> dict[str, int]:
    """Insert replies in one statement; returns the ids of those not stored before,
    by provider id."""
    stored = insert_rows(
        session, Reply, rows, unique="provider_id", returning=("provider_id", "id")
    )
    return {row.provider_id: row.id for row in stored}


def _with_trends(
    session: Session,
    readings: dict[str, Reading],
    patients: dict[str, int],
    *,
    settings: Settings,
    now: datetime,
) -> dict[str, Reading]:
    """The readings (by key, in order) that a pain trend makes `attention`: a score 3 or
    more above the patient's previous one in the episode, or a second 7 or more."""
    scored = {
        key: (patients[key], reading.pain)
        for key, reading in readings.items()
        if reading.pain is not None and key in patients
    }
    if not scored:
        return {}
    history = earlier_scores(
        session, {pid for pid, _ in scored.values()}, settings=settings, now=now
    )
    changed = {}
    for key, (patient_id, pain) in scored.items():
        reading = readings[key]
        reason = trend_reason(history[patient_id], pain)
        if reason is not None:
            triage = Triage.ATTENTION.value if reading.triage == Triage.ROUTINE else reading.triage
            changed[key] = replace(reading, triage=triage, reasons=(*reading.reasons, reason))
        history[patient_id] = history[patient_id].then(pain)
    return changed


def _alerted_before(session: Session, reply_ids: list[int]) -> set[int]:
    """Those of `reply_ids` (stored by an earlier request) whose alert notified staff."""
    if not reply_ids:
        return set()
    return set(
        session.scalars(
            select(Alert.reply_id).where(
                Alert.reply_id.in_(reply_ids), Alert.notified_at.is_not(None)
            )
        )
    )


def _reply_ids(session: Session, provider_ids: list[str]) -> dict[str, int]:
    if not provider_ids:
        return {}
    found = session.execute(
        select(Reply.provider_id, Reply.id).where(Reply.provider_id.in_(provider_ids))
    )
    return dict(found.all())
