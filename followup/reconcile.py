"""Settling rows that did not finish: lost tasks, dead workers, ambiguous sends.

A `queued` row nobody picked up was never sent: it goes back to `scheduled`.
A `sending` row whose worker vanished may have been sent: it becomes `unknown`.
An `unknown` row is looked up at the provider before anything is resent; what
cannot be looked up stays `unknown`, with the reason, for staff to see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from followup.channels import DeliveryChannel, Outgoing
from followup.config import Settings
from followup.db import rows_changed, transaction
from followup.exceptions import AmbiguousDeliveryError
from followup.models import Channel, Message, MessageStatus

# Provider clocks drift from ours; look a little before our own attempt time.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Settlement:
    requeued: int = 0
    marked_unknown: int = 0
    confirmed_sent: int = 0
    retrying: int = 0
    failed: int = 0
    unresolved: int = 0


def recover_stuck(
    sessions: sessionmaker[Session], *, now: datetime, settings: Settings
) -> tuple[int, int]:
    """Return (requeued, marked unknown) for rows stuck in queued or sending."""
    cutoff = now - timedelta(seconds=settings.stuck_after_seconds)
    with transaction(sessions) as session:
        requeued = rows_changed(
            session,
            update(Message)
            .where(Message.status == MessageStatus.QUEUED, Message.updated_at < cutoff)
            .values(status=MessageStatus.SCHEDULED, updated_at=now),
        )
        unknown = rows_changed(
            session,
            update(Message)
            .where(Message.status == MessageStatus.SENDING, Message.attempted_at < cutoff)
            .values(
                status=MessageStatus.UNKNOWN,
                last_error="the worker stopped while sending",
                updated_at=now,
            ),
        )
    return requeued, unknown


def reconcile_unknown(
    sessions: sessionmaker[Session],
    *,
    channels: dict[Channel, DeliveryChannel],
    now: datetime,
    settings: Settings,
    limit: int = 200,
) -> Settlement:
    """Ask the provider about `unknown` rows old enough for it to show them."""
    requeued, marked = recover_stuck(sessions, now=now, settings=settings)
    counts = {"requeued": requeued, "marked_unknown": marked}
    settled_before = now - timedelta(seconds=settings.reconcile_after_seconds)
    with sessions() as session:
        rows = session.scalars(
            select(Message)
            .where(Message.status == MessageStatus.UNKNOWN, Message.attempted_at <= settled_before)
            .order_by(Message.attempted_at)
            .limit(limit)
        ).all()
    for message in rows:
        outcome, values = _settle(message, channels[Channel(message.channel)], settings)
        counts[outcome] = counts.get(outcome, 0) + 1
        with transaction(sessions) as session:
            session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status == MessageStatus.UNKNOWN)
                .values(updated_at=now, **values)
            )
    return Settlement(**counts)


def _settle(
    message: Message, channel: DeliveryChannel, settings: Settings
) -> tuple[str, dict[str, object]]:
    # An unknown row left `sending`, which wrote its recipient, text and attempt time.
    attempted_at = message.attempted_at or message.updated_at
    outgoing = Outgoing(message.id, message.recipient or "", message.body or "", message.subject)
    try:
        provider_id = channel.lookup(outgoing, since=attempted_at - CLOCK_SKEW)
    except AmbiguousDeliveryError as exc:
        return "unresolved", {"last_error": f"cannot reconcile, needs staff review: {exc.reason}"}
    if provider_id is not None:
        return "confirmed_sent", {
            "status": MessageStatus.SENT,
            "provider_id": provider_id,
            "sent_at": attempted_at,
            "last_error": f"settled by provider look-up after: {message.last_error}",
        }
    if message.attempts >= settings.max_attempts:
        return "failed", {
            "status": MessageStatus.FAILED,
            "last_error": f"not at the provider after {message.attempts} attempts: {message.last_error}",
        }
    return "retrying", {"status": MessageStatus.SCHEDULED, "due_at": attempted_at}
