"""Claiming due rows: what a dispatch tick takes from the outbox, in which order and
batches, and how claimed rows no task took go back in line.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any number of ticks may race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from followup.care.series import held_back
from followup.config import Settings
from followup.db import rows_changed, transaction
from followup.models.base import Channel
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.outbox import Message, MessageStatus, Purpose

# Claim no more texts than the rate sends in this long: a row waits queued a short while,
# well within stuck-row recovery and the broker's visibility timeout.
CLAIM_AHEAD = timedelta(minutes=2)


RANK: dict[str, int] = {
    Purpose.ALERT.value: 0,
    Purpose.ANSWER.value: 0,
    Purpose.CARE.value: 1,
    Purpose.CAMPAIGN.value: 2,
}


PRIORITY = case(
    (Message.purpose.in_((Purpose.ALERT, Purpose.ANSWER)), 0),
    (Message.purpose == Purpose.CARE, 1),
    else_=2,
)


def sms_room(session: Session, settings: Settings) -> int | None:
    """How many more SMS a tick should claim: what the sender's rate can send within
    `CLAIM_AHEAD`, less what is already queued. None when there is no rate limit."""
    if settings.sms_rate <= 0:
        return None
    backlog = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.channel == Channel.SMS,
            Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
        )
    )
    return max(0, int(settings.sms_rate * CLAIM_AHEAD.total_seconds()) - (backlog or 0))


@dataclass(frozen=True)
class Batch:
    channel: Channel
    message_ids: list[int]


def claim_due(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    limit: int,
    batch_size: int,
    sms_limit: int | None = None,
    wait: timedelta = timedelta(seconds=Settings.queue_wait_seconds),
) -> list[Batch]:
    """Move up to `limit` due rows per channel (SMS also at most `sms_limit`) from
    scheduled to queued; return them in batches.

    Staff alerts come first, then plan messages, then campaigns (only running ones).
    On PostgreSQL, `SKIP LOCKED` lets several dispatchers run at once without waiting
    on each other; the conditional UPDATE is what makes a row go to one of them only.
    Rows no send task has taken within `wait` (a task lost with the broker) are
    claimed again.
    """
    running = select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)
    caps = {
        Channel.SMS: limit if sms_limit is None else min(limit, sms_limit),
        Channel.EMAIL: limit,
    }
    claimed: list[Row[int, str, str]] = []
    with transaction(sessions) as session:
        for channel, cap in caps.items():
            if cap <= 0:
                continue
            # A materialized CTE: PostgreSQL may run a LIMIT ... SKIP LOCKED subquery
            # inside IN (...) more than once and claim past the limit.
            due = (
                select(Message.id)
                .where(
                    Message.status == MessageStatus.SCHEDULED,
                    Message.channel == channel,
                    Message.due_at <= now,
                    or_(Message.campaign_id.is_(None), Message.campaign_id.in_(running)),
                    ~held_back(now),
                )
                .order_by(PRIORITY, Message.due_at)
                .limit(cap)
                .with_for_update(skip_locked=True)
                .cte("due")
                .prefix_with("MATERIALIZED", dialect="postgresql")
            )
            claimed += session.execute(
                update(Message)
                .where(Message.id == due.c.id, Message.status == MessageStatus.SCHEDULED)
                .values(
                    status=MessageStatus.QUEUED,
                    claimed_by=None,
                    lease_until=now + wait,
                    updated_at=now,
                )
                .returning(Message.id, Message.channel, Message.purpose)
            ).all()
    by_channel: dict[Channel, list[int]] = {}
    for message_id, kind, _ in sorted(claimed, key=lambda row: (RANK[row[2]], row[0])):
        by_channel.setdefault(Channel(kind), []).append(message_id)
    return [
        Batch(channel, ids[start : start + batch_size])
        for channel, ids in by_channel.items()
        for start in range(0, len(ids), batch_size)
    ]


def unclaim(sessions: sessionmaker[Session], message_ids: list[int], *, now: datetime) -> int:
    """Put queued rows no send task has taken back in line; returns how many."""
    with transaction(sessions) as session:
        return rows_changed(
            session,
            update(Message)
            .where(
                Message.id.in_(message_ids),
                Message.status == MessageStatus.QUEUED,
                Message.claimed_by.is_(None),
            )
            .values(status=MessageStatus.SCHEDULED, lease_until=None, updated_at=now),
        )
