"""The outbox state machine: claim due rows, check and render them, send them.

    scheduled ─claim─► queued ─start─► sending ─► sent (─► delivered, by callback)
        ▲                 │               ├─► scheduled  nothing was sent: retry later
        └─ deferred ──────┤               ├─► unknown    maybe sent: reconcile first
                          └─► skipped     └─► failed     refused for good

Every transition is one UPDATE conditional on the state it leaves, so a task that
runs twice, or two workers racing, move a row once and send it once. A send task holds
its queued and sending rows on a lease (`followup.delivery.leases`): a dead worker's rows are
recovered as soon as it runs out, and a text a patient just had is not sent again
(`followup.delivery.repeats`), nor a message past the patient's frequency cap (`followup.delivery.caps`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from followup.care.measures import TEMPLATE as MEASURES_TEMPLATE
from followup.care.measures import TIMEPOINT_OF_STEP
from followup.care.patients import lock_patients
from followup.care.programs import PROGRAM_TEMPLATES, current_programs
from followup.config import Settings
from followup.content.render import Renderer
from followup.db import dialect_name, per_dialect, transaction
from followup.delivery.caps import FrequencyCaps
from followup.delivery.channels import DeliveryChannel, Outgoing, Send
from followup.delivery.compose import QUEUED_ROWS, Composer, QueuedRow
from followup.delivery.eligibility import Defer, SendTo, Skip, decide
from followup.delivery.leases import Lease
from followup.delivery.outcomes import OutcomeRecorder
from followup.delivery.pipeline import Finished, SendPipeline
from followup.delivery.repeats import RepeatGuard
from followup.delivery.sending import start_sending
from followup.delivery.throttle import Throttle, Unlimited
from followup.exceptions import DeliveryError, TemplateProblem
from followup.models.base import Channel
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.operations import metrics

Clock = Callable[[], datetime]
# A batch's counts as `followup_sends_total` names its outcomes.
OUTCOMES = {"retrying": "retry"}


# A chunk's queued rows its send task holds; built once (see `followup.delivery.repeats`).
HELD_ROWS = per_dialect(
    lambda member_of: QUEUED_ROWS.where(
        member_of(Message.id, "ids", Integer()), Message.claimed_by == bindparam("holder")
    )
)


def claim_chunk(concurrency: int) -> int:
    """Rows claimed per transaction: enough to amortise a commit, few enough that a
    crash leaves little in `sending` (an email there cannot be looked up later)."""
    return min(100, max(10, 4 * concurrency))


@dataclass(frozen=True)
class BatchReport:
    sent: int = 0
    retrying: int = 0
    unknown: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0


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
                        send=_throttled(connected, throttle, channel.sender, kind.value),
                        record=partial(self._record, kind, counts=recorded),
                    ).run(ids)
        return BatchReport(**(started + recorded))

    def _record(self, kind: Channel, finished: list[Finished], counts: Counter[str]) -> None:
        before = counts.copy()
        self.outcomes.record(finished, now=self.clock(), counts=counts)
        _counted(kind, finished, counts - before)

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
            programs = current_programs(
                session,
                {
                    r.episode_id
                    for r in rows
                    if r.episode_id
                    and (r.template in PROGRAM_TEMPLATES or (r.step or "") in TIMEPOINT_OF_STEP)
                },
                self.settings.exercises_dir,
            )
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
                    # A patient who writes in after discharge is still answered; the
                    # discharge's own outcome form goes (the others were cancelled).
                    discharged=row.discharged_at is not None
                    and row.purpose in (Purpose.CARE, Purpose.CAMPAIGN)
                    and row.template != MEASURES_TEMPLATE,
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
                        program = programs.get(row.episode_id or 0)
                        ready[row.id] = self.composer.compose(
                            row, channel, decision.to, campaign, program
                        )
                    except TemplateProblem as exc:
                        self._leave_queue(session, row.id, MessageStatus.FAILED, str(exc), now)
                        counts["failed"] += 1
            # One lock for every patient these rows reach (the guards below take turns
            # per patient under it): a worker sees what another just started to send.
            lock_patients(
                session,
                [
                    r.patient_id
                    for r in rows
                    if r.id in ready and r.purpose != Purpose.ALERT and r.patient_id is not None
                ],
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


def _counted(kind: Channel, finished: list[Finished], outcomes: Counter[str]) -> None:
    for outcome, count in outcomes.items():
        metrics.SENDS.labels(kind.value, OUTCOMES.get(outcome, outcome)).inc(count)
    for _, future in finished:
        error = future.exception()
        if isinstance(error, DeliveryError) and error.code:
            metrics.PROVIDER_ERRORS.labels(kind.value, error.code).inc()


def _throttled(send: Send, throttle: Throttle, sender: str, kind: str) -> Send:
    """`send`, after waiting for the sender's rate to allow one more message; the
    provider's part is timed into `followup_send_duration_seconds`."""
    seconds = metrics.SEND_SECONDS.labels(kind)

    def throttled_send(outgoing: Outgoing) -> str:
        throttle.acquire(sender)
        with seconds.time():
            return send(outgoing)

    return throttled_send
