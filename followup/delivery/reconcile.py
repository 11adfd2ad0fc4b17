"""Settling rows that did not finish: dead workers, lost tasks, ambiguous sends.

A send task holds its queued and sending rows on a lease it renews while alive. When
a lease runs out, the holder is gone: a queued row was never sent and goes back to
`scheduled`; a sending row may have been sent and becomes `unknown`.

An `unknown` row is looked up at the provider before anything is resent. A look-up
credits the row with a provider message only when that message is no other row's and
no other row could be waiting for it; an ambiguous match is left for Twilio's status
callback (it names our own id) and then for staff. What no look-up can settle (email)
is set aside for staff at once, so it never stands in the way of what can be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from followup.config import Settings
from followup.db import rows_changed, transaction
from followup.delivery.channels import DeliveryChannel, Outgoing
from followup.exceptions import AmbiguousDeliveryError
from followup.models.base import Channel
from followup.models.outbox import Message, MessageStatus

# Provider clocks drift from ours; look a little before our own attempt time.
CLOCK_SKEW = timedelta(minutes=5)
# An ambiguous or failed look-up is tried again, waiting as long again as the row has
# waited (30 s, 1 min, 2 min, ...), for this long; then staff decide.
RECHECK_FOR = timedelta(hours=1)
# Between the reason a row became unknown and what reconciliation found out.
NOTE = " | "


@dataclass(frozen=True)
class Settlement:
    requeued: int = 0
    marked_unknown: int = 0
    confirmed_sent: int = 0
    retrying: int = 0
    failed: int = 0
    unresolved: int = 0
    for_staff: int = 0


def recover_lapsed(sessions: sessionmaker[Session], *, now: datetime) -> tuple[int, int]:
    """Return (requeued, marked unknown) for rows whose holder's lease ran out."""
    with transaction(sessions) as session:
        requeued = rows_changed(
            session,
            update(Message)
            .where(Message.status == MessageStatus.QUEUED, Message.lease_until < now)
            .values(
                status=MessageStatus.SCHEDULED, claimed_by=None, lease_until=None, updated_at=now
            ),
        )
        unknown = rows_changed(
            session,
            update(Message)
            .where(Message.status == MessageStatus.SENDING, Message.lease_until < now)
            .values(
                status=MessageStatus.UNKNOWN,
                lease_until=None,
                settle_at=now,
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
    """Recover lapsed rows, then settle up to `limit` unknown rows whose time has come."""
    requeued, marked = recover_lapsed(sessions, now=now)
    counts = {"requeued": requeued, "marked_unknown": marked}
    with sessions() as session:
        due = session.scalars(
            select(Message)
            .where(Message.status == MessageStatus.UNKNOWN, Message.settle_at <= now)
            .order_by(Message.settle_at)
            .limit(limit)
        ).all()
    for message in due:
        outcome = _settle(sessions, message, channels[Channel(message.channel)], settings, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return Settlement(**counts)


def _settle(
    sessions: sessionmaker[Session],
    message: Message,
    channel: DeliveryChannel,
    settings: Settings,
    now: datetime,
) -> str:
    # An unknown row left `sending`, which wrote its recipient, text and attempt time.
    attempted_at = message.attempted_at or message.updated_at
    cause = (message.last_error or "").split(NOTE)[0]
    outgoing = Outgoing(message.id, message.recipient or "", message.body or "", message.subject)
    since = attempted_at - CLOCK_SKEW
    try:
        found = channel.lookup(outgoing, since=since)
    except AmbiguousDeliveryError as exc:
        return _leave(sessions, message, cause, exc.reason, attempted_at, now, settings)
    if found is None:
        note = f"the {message.channel} provider cannot be asked: staff decide"
        _update(sessions, message.id, {"settle_at": None, "last_error": cause + NOTE + note}, now)
        return "for_staff"
    try:
        with transaction(sessions) as session:
            held = set(
                session.scalars(select(Message.provider_id).where(Message.provider_id.in_(found)))
            )
            free = [sid for sid in found if sid not in held]
            rivals = _rivals(session, message, since)
            verdict = _verdict(message, free, rivals, cause, attempted_at, settings)
            if verdict is not None:
                outcome, values = verdict
                _guarded_update(session, message.id, values, now)
                return outcome
    except IntegrityError:
        note = "the matching message was recorded by its own send meanwhile"
        return _leave(sessions, message, cause, note, attempted_at, now, settings)
    note = (
        f"{len(free)} message(s) at the provider match it and {rivals} other row(s) may be "
        "waiting for them; left for Twilio's status callback"
    )
    return _leave(sessions, message, cause, note, attempted_at, now, settings)


def _verdict(
    message: Message,
    free: list[str],
    rivals: int,
    cause: str,
    attempted_at: datetime,
    settings: Settings,
) -> tuple[str, dict[str, object]] | None:
    """What a look-up proves, as (outcome, new values); None when it proves nothing."""
    if not free:
        # Every match is another row's own message: this one never reached the provider.
        if message.attempts >= settings.max_attempts:
            return "failed", {
                "status": MessageStatus.FAILED,
                "settle_at": None,
                "last_error": f"not at the provider after {message.attempts} attempts: {cause}",
            }
        return "retrying", {
            "status": MessageStatus.SCHEDULED,
            "due_at": attempted_at,
            "settle_at": None,
            "claimed_by": None,
            "last_error": cause + NOTE + "not at the provider: sending again",
        }
    if len(free) == 1 and not rivals:
        return "confirmed_sent", {
            "status": MessageStatus.SENT,
            "provider_id": free[0],
            "sent_at": attempted_at,
            "settle_at": None,
            "last_error": cause + NOTE + "found at the provider by look-up",
        }
    return None


def _rivals(session: Session, message: Message, since: datetime) -> int:
    """Other rows, tried since `since`, that may be waiting for the same provider
    message as `message`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.id != message.id,
                Message.channel == message.channel,
                Message.recipient == message.recipient,
                Message.body == message.body,
                Message.status.in_((MessageStatus.SENDING, MessageStatus.UNKNOWN)),
                Message.attempted_at >= since,
            )
        )
        or 0
    )


def _leave(
    sessions: sessionmaker[Session],
    message: Message,
    cause: str,
    note: str,
    attempted_at: datetime,
    now: datetime,
    settings: Settings,
) -> str:
    """Ask again later; after `RECHECK_FOR`, set the row aside for staff."""
    waited = now - attempted_at
    if waited < RECHECK_FOR:
        later = max(waited, timedelta(seconds=settings.reconcile_after_seconds))
        values: dict[str, object] = {"settle_at": now + later}
        outcome = "unresolved"
    else:
        values, note, outcome = {"settle_at": None}, note + ": staff decide", "for_staff"
    _update(sessions, message.id, values | {"last_error": cause + NOTE + note}, now)
    return outcome


def _update(
    sessions: sessionmaker[Session], message_id: int, values: dict[str, object], now: datetime
) -> None:
    with transaction(sessions) as session:
        _guarded_update(session, message_id, values, now)


def _guarded_update(
    session: Session, message_id: int, values: dict[str, object], now: datetime
) -> None:
    """Change the row only if it is still unknown (a status callback may have settled it)."""
    session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.UNKNOWN)
        .values(updated_at=now, **values)
    )
