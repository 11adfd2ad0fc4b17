"""Twilio's delivery receipts: a message's state moves forward only, once."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from followup.care.patients import has_consent
from followup.db import insert, rows_changed
from followup.delivery.reconcile import NOTE
from followup.models.base import Channel
from followup.models.outbox import Message, MessageStatus, Purpose

log = logging.getLogger(__name__)


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


PROVIDER_STATUS = {
    "accepted": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}


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
    patient_id = message.patient_id
    if patient_id is None or not has_consent(
        session, patient_id, Channel.EMAIL, Purpose(message.purpose)
    ):
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
