"""Patients' text messages: stored once per sid, then consent, triage and alerts.

Each is stored before anything else happens and is idempotent: a Twilio retry finds its
row and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from followup.care.patients import has_consent, record_consents
from followup.config import Settings
from followup.content.render import Renderer
from followup.models.base import Channel, UTCDateTime
from followup.models.care import Consent, Patient
from followup.models.outbox import Purpose
from followup.models.replies import Reply, Triage
from followup.replies.alerts import raise_alerts
from followup.replies.program_answers import (
    Answered,
    ProgrammeAnswer,
    read_answer_text,
    record_program_answers,
)
from followup.replies.reading import Reading, is_yes
from followup.replies.recording import alerted_before, reply_row, store_replies, with_trends

log = logging.getLogger(__name__)


KEYWORD_SOURCE = "sms keyword"
# The purposes a patient consents to (staff answers go under care).
CONSENTED = (Purpose.CARE, Purpose.CAMPAIGN)


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
    # The automatic answer sent back, once the web side has written it.
    answer: str | None = None
    # What the reply counted as for a home programme or an appointment, if anything.
    programme: ProgrammeAnswer | None = None


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
    readings = {sid: read_answer_text(sms.body) for sid, sms in firsts.items()}
    patients = {
        sid: senders[sms.from_number].id
        for sid, sms in firsts.items()
        if sms.from_number in senders
    }
    readings |= with_trends(session, readings, patients, settings=settings, now=now)
    rows = []
    for sms in firsts.values():
        sender = senders.get(sms.from_number)
        reading = readings[sms.sid]
        rows.append(
            reply_row(
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
    stored = store_replies(session, rows)
    to_alert: list[tuple[_StoredReply, int | None]] = []
    changes: dict[str, str | None] = {}
    programme: list[Answered] = []
    for sms in firsts.values():
        sender, reading = senders.get(sms.from_number), readings[sms.sid]
        if sms.sid not in stored:
            continue
        if sender is None:
            log.warning("SMS %s from an unknown number, stored for staff", sms.sid)
        elif reading.keyword or is_yes(sms.body):
            patient = session.get_one(Patient, sender.id)
            changes[sms.sid] = _keyword_consent(session, patient, reading, sms.body, now)
        # Read whoever sent it and whatever keyword it carries: a red flag always alerts.
        if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
            reasons = "; ".join(reading.reasons)
            reply = _StoredReply(
                stored[sms.sid], sms.body, reading.pain, reading.triage, reasons, now
            )
            to_alert.append((reply, sender.id if sender else None))
        if sender is not None and reading.keyword is None:
            programme.append(Answered(stored[sms.sid], sender.id, sender.last_message_id, sms.body))
    counted = record_program_answers(session, programme, now=now)
    alerted = raise_alerts(session, to_alert, settings=settings, renderer=renderer, now=now)
    earlier = _reply_ids(session, [sid for sid in readings if sid not in stored])
    alerted |= alerted_before(session, list(earlier.values()))
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
                programme=counted.get(reply_id),
            )
        )
    return results


def _keyword_consent(
    session: Session, patient: Patient, reading: Reading, body: str, now: datetime
) -> str | None:
    """Apply a stop or start intent (a keyword or said in words) or a YES after an
    opt-out to both purposes of SMS consent; `unsure` and `help` change nothing, nor
    does a stop from a patient who has opted out already (so one confirmation only)."""
    if reading.keyword == "stop":
        consented = (has_consent(session, patient.id, Channel.SMS, p) for p in CONSENTED)
        if not any(consented):
            return None
        granted = False
    elif reading.keyword == "start" or (is_yes(body) and _stopped_by_keyword(session, patient)):
        granted = True
    else:
        return None
    record_consents(
        session,
        patient,
        {(Channel.SMS, purpose): granted for purpose in CONSENTED},
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


def _reply_ids(session: Session, provider_ids: list[str]) -> dict[str, int]:
    if not provider_ids:
        return {}
    found = session.execute(
        select(Reply.provider_id, Reply.id).where(Reply.provider_id.in_(provider_ids))
    )
    return dict(found.all())
