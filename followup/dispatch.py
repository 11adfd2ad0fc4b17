"""The outbox state machine: claim due rows, check and render them, send them.

    scheduled ─claim─► queued ─start─► sending ─► sent (─► delivered, by callback)
        ▲                 │               ├─► scheduled  nothing was sent: retry later
        └─ deferred ──────┤               ├─► unknown    maybe sent: reconcile first
                          └─► skipped     └─► failed     refused for good

Every transition is one UPDATE conditional on the state it leaves, so a task that
runs twice, or two workers racing, move a row once and send it once. A send task holds
its queued and sending rows on a lease (`followup.leases`): a dead worker's rows are
recovered as soon as it runs out, and a text a patient just had is not sent again
(`followup.repeats`), nor a message past the patient's frequency cap (`followup.caps`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from followup.caps import FrequencyCaps
from followup.channels import DeliveryChannel, Outgoing, Send
from followup.compose import QUEUED_ROWS, Composer, QueuedRow
from followup.config import Settings
from followup.db import dialect_name, per_dialect, rows_changed, transaction
from followup.eligibility import Defer, SendTo, Skip, decide
from followup.exceptions import TemplateProblem
from followup.leases import Lease
from followup.models import (
    Campaign,
    CampaignStatus,
    Channel,
    Message,
    MessageStatus,
    Purpose,
)
from followup.outcomes import OutcomeRecorder
from followup.patients import lock_patients
from followup.pipeline import SendPipeline
from followup.render import Renderer
from followup.repeats import RepeatGuard
from followup.sending import start_sending
from followup.series import held_back
from followup.throttle import Throttle, Unlimited

Clock = Callable[[], datetime]


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
# A chunk's queued rows its send task holds; built once (see `followup.repeats`).
HELD_ROWS = per_dialect(
    lambda member_of: QUEUED_ROWS.where(
        member_of(Message.id, "ids", Integer()), Message.claimed_by == bindparam("holder")
    )
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


def claim_chunk(concurrency: int) -> int:
    """Rows claimed per transaction: enough to amortise a commit, few enough that a
    crash leaves little in `sending` (an email there cannot be looked up later)."""
    return min(100, max(10, 4 * concurrency))


@dataclass(frozen=True)
class Batch:
    channel: Channel
    message_ids: list[int]


@dataclass(frozen=True)
class BatchReport:
    sent: int = 0
    retrying: int = 0
    unknown: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0


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


class Dispatcher:
    """Sends queued messages through a channel, `concurrency` at a time."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        channels: dict[Channel, DeliveryChannel],
        renderer: Renderer,
        pools: dict[Channel, Executor],
        throttles: dict[Channel, Throttle],
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.channels = channels
        self.renderer = renderer
        self.pools = pools
        self.throttles = throttles
        self.clock = clock
        self.composer = Composer(renderer=renderer, settings=settings)
        self.repeats = RepeatGuard(timedelta(hours=settings.repeat_window_hours))
        self.caps = FrequencyCaps(settings)
        self.outcomes = OutcomeRecorder(
            sessions=sessions, settings=settings, rng=rng or random.Random()
        )

    def send_batch(self, message_ids: Iterable[int]) -> BatchReport:
        """Send the queued rows among `message_ids`; rows in any other state are left alone."""
        started: Counter[str] = Counter()
        recorded: Counter[str] = Counter()
        with Lease(self.sessions, seconds=self.settings.lease_seconds, clock=self.clock) as lease:
            held = lease.take(list(message_ids))
            for kind, ids in self._group_by_channel(held).items():
                channel = self.channels[kind]
                throttle = self.throttles.get(kind, Unlimited())
                with channel.connect() as connected:
                    SendPipeline(
                        pool=self.pools[kind],
                        concurrency=channel.concurrency,
                        chunk_size=claim_chunk(channel.concurrency),
                        start=lambda chunk: self._start(chunk, lease.holder, started),
                        send=_throttled(connected, throttle, channel.sender),
                        record=lambda finished: self.outcomes.record(
                            finished, now=self.clock(), counts=recorded
                        ),
                    ).run(ids)
        return BatchReport(**(started + recorded))

    def _group_by_channel(self, ids: list[int]) -> dict[Channel, list[int]]:
        with self.sessions() as session:
            rows = (
                session.connection()
                .execute(
                    select(Message.id, Message.channel)
                    .where(Message.id.in_(ids))
                    .order_by(Message.id)
                )
                .all()
            )
        grouped: dict[Channel, list[int]] = {}
        for message_id, channel in rows:
            grouped.setdefault(Channel(channel), []).append(message_id)
        return grouped

    def _start(self, chunk: list[int], holder: str, counts: Counter[str]) -> list[Outgoing]:
        """Check, render and move a chunk from queued to sending in one transaction."""
        now = self.clock()
        with transaction(self.sessions) as session:
            held = session.connection().execute(
                HELD_ROWS[dialect_name(session)], {"now": now, "ids": chunk, "holder": holder}
            )
            rows = [QueuedRow._make(row) for row in held]
            campaigns = _campaigns(session, {row.campaign_id for row in rows if row.campaign_id})
            ready: dict[int, Outgoing] = {}
            for row in rows:
                channel = Channel(row.channel)
                campaign = campaigns.get(row.campaign_id or 0)
                if campaign is not None and campaign.status != CampaignStatus.RUNNING:
                    # Paused after the claim: back in line, sent when it resumes.
                    reason = f"campaign {campaign.status}"
                    self._leave_queue(session, row.id, MessageStatus.SCHEDULED, reason, now)
                    counts["deferred"] += 1
                    continue
                if row.paused:
                    # The patient's series was paused after the claim: held like the rest.
                    reason = "series paused after a reply that needs staff"
                    self._leave_queue(session, row.id, MessageStatus.SCHEDULED, reason, now)
                    counts["deferred"] += 1
                    continue
                staff = row.purpose == Purpose.ALERT
                patient_address = row.phone if channel is Channel.SMS else row.email
                decision = decide(
                    channel=channel,
                    purpose=row.purpose,
                    expires_at=row.expires_at,
                    address=row.recipient if staff else patient_address,
                    # A patient who writes in after discharge is still answered.
                    discharged=row.discharged_at is not None
                    and row.purpose in (Purpose.CARE, Purpose.CAMPAIGN),
                    consented=staff or bool(row.consented),
                    zone=ZoneInfo(row.timezone),
                    now=now,
                    settings=self.settings,
                    ignore_quiet_hours=row.ignore_quiet_hours,
                )
                if isinstance(decision, Skip | Defer):
                    self._settle(session, row.id, decision, now, counts)
                elif isinstance(decision, SendTo):
                    try:
                        ready[row.id] = self.composer.compose(row, channel, decision.to, campaign)
                    except TemplateProblem as exc:
                        self._leave_queue(session, row.id, MessageStatus.FAILED, str(exc), now)
                        counts["failed"] += 1
            # One lock for every patient these rows reach (the guards below take turns
            # per patient under it): a worker sees what another just started to send.
            lock_patients(
                session,
                [r.patient_id for r in rows if r.id in ready and r.purpose != Purpose.ALERT],
            )
            for message_id, reason in self.repeats.find(session, rows, ready, now).items():
                self._settle(session, message_id, Skip(reason), now, counts)
                del ready[message_id]
            for message_id, capped in self.caps.hold(
                session, [r for r in rows if r.id in ready], now
            ).items():
                self._settle(session, message_id, capped, now, counts)
                del ready[message_id]
            if not ready:
                return []
            started = start_sending(session, ready, holder=holder, now=now)
        return [ready[message_id] for message_id in started]

    def _settle(
        self,
        session: Session,
        message_id: int,
        decision: Skip | Defer,
        now: datetime,
        counts: Counter[str],
    ) -> None:
        """Take a row out of the queue as `decision` says: skipped, or back in line."""
        if isinstance(decision, Skip):
            self._leave_queue(session, message_id, MessageStatus.SKIPPED, decision.reason, now)
            counts["skipped"] += 1
            return
        self._leave_queue(
            session,
            message_id,
            MessageStatus.SCHEDULED,
            decision.reason,
            now,
            due_at=decision.until,
        )
        counts["deferred"] += 1

    def _leave_queue(
        self,
        session: Session,
        message_id: int,
        status: MessageStatus,
        reason: str,
        now: datetime,
        *,
        due_at: datetime | None = None,
    ) -> None:
        values: dict[str, object] = {
            "status": status,
            "last_error": reason,
            "claimed_by": None,
            "updated_at": now,
        }
        if due_at is not None:
            values["due_at"] = due_at
        session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
            .values(**values)
        )


def _campaigns(session: Session, ids: set[int]) -> dict[int, Campaign]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_(ids)))}


def _throttled(send: Send, throttle: Throttle, sender: str) -> Send:
    """`send`, after waiting for the sender's rate to allow one more message."""

    def throttled_send(outgoing: Outgoing) -> str:
        throttle.acquire(sender)
        return send(outgoing)

    return throttled_send
