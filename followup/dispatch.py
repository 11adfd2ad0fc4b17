"""The outbox state machine: claim due rows, check and render them, send them.

    scheduled ─claim─► queued ─start─► sending ─► sent (─► delivered, by callback)
        ▲                 │               ├─► scheduled  nothing was sent: retry later
        └─ deferred ──────┤               ├─► unknown    maybe sent: reconcile first
                          └─► skipped     └─► failed     refused for good

Every transition is one UPDATE conditional on the state it leaves, so a task that
runs twice, or two workers racing, move a row once and send it once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from followup.channels import DeliveryChannel, Outgoing, Send
from followup.config import Settings
from followup.db import transaction
from followup.eligibility import Defer, SendTo, Skip, decide
from followup.exceptions import TemplateProblem
from followup.links import Links
from followup.models import Channel, Consent, Message, MessageStatus, Patient, Purpose, Visit
from followup.outcomes import MESSAGES, OutcomeRecorder
from followup.pipeline import SendPipeline
from followup.render import Renderer, message_context
from followup.throttle import Throttle, Unlimited

Clock = Callable[[], datetime]


# The hot path works on plain rows, not ORM objects: a dispatcher reads many.
CANDIDATES = (
    select(
        Message.id,
        Message.channel,
        Message.purpose,
        Message.template,
        Message.expires_at,
        Message.recipient,
        Message.subject,
        Message.body,
        Patient.id,
        Patient.first_name,
        Patient.phone,
        Patient.email,
        Patient.language,
        Patient.timezone,
        Patient.discharged_at,
        Visit.visited_at,
        Visit.office,
        Visit.clinician,
        Consent.granted,
    )
    .join(Patient, Message.patient_id == Patient.id)
    .outerjoin(Visit, Message.visit_id == Visit.id)
    .outerjoin(
        Consent,
        and_(
            Consent.patient_id == Message.patient_id,
            Consent.channel == Message.channel,
            Consent.purpose == Message.purpose,
        ),
    )
    .where(Message.status == MessageStatus.QUEUED)
)


class Candidate(NamedTuple):
    """A queued message with what deciding and rendering it needs."""

    id: int
    channel: str
    purpose: str
    template: str
    expires_at: datetime
    recipient: str | None  # set in advance only for staff alerts
    subject: str | None
    body: str | None
    patient_id: int
    first_name: str
    phone: str | None
    email: str | None
    language: str
    timezone: str
    discharged_at: datetime | None
    visited_at: datetime | None
    office: str | None
    clinician: str | None
    consented: bool | None

    def visit(self) -> VisitRow | None:
        if self.visited_at is None or self.office is None or self.clinician is None:
            return None
        return VisitRow(self.visited_at, self.office, self.clinician)


class VisitRow(NamedTuple):
    visited_at: datetime
    office: str
    clinician: str


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
    sessions: sessionmaker[Session], *, now: datetime, limit: int, batch_size: int
) -> list[Batch]:
    """Move up to `limit` due rows from scheduled to queued; return them in batches.

    On PostgreSQL, `SKIP LOCKED` lets several dispatchers run at once without waiting
    on each other; the conditional UPDATE is what makes a row go to one of them only.
    """
    with transaction(sessions) as session:
        due = (
            select(Message.id)
            .where(Message.status == MessageStatus.SCHEDULED, Message.due_at <= now)
            .order_by(Message.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = session.execute(
            update(Message)
            .where(Message.id.in_(due.scalar_subquery()), Message.status == MessageStatus.SCHEDULED)
            .values(status=MessageStatus.QUEUED, updated_at=now)
            .returning(Message.id, Message.channel)
        ).all()
    by_channel: dict[Channel, list[int]] = {}
    for message_id, channel in sorted(claimed):
        by_channel.setdefault(Channel(channel), []).append(message_id)
    return [
        Batch(channel, ids[start : start + batch_size])
        for channel, ids in by_channel.items()
        for start in range(0, len(ids), batch_size)
    ]


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
        self.links = Links(settings)
        self.outcomes = OutcomeRecorder(
            sessions=sessions, settings=settings, rng=rng or random.Random()
        )

    def send_batch(self, message_ids: Iterable[int]) -> BatchReport:
        """Send the queued rows among `message_ids`; rows in any other state are left alone."""
        started: Counter[str] = Counter()
        recorded: Counter[str] = Counter()
        for kind, ids in self._group_by_channel(list(message_ids)).items():
            channel = self.channels[kind]
            throttle = self.throttles.get(kind, Unlimited())
            with channel.connect() as connected:
                SendPipeline(
                    pool=self.pools[kind],
                    concurrency=channel.concurrency,
                    chunk_size=claim_chunk(channel.concurrency),
                    start=lambda chunk: self._start(chunk, started),
                    send=_throttled(connected, throttle, channel.sender),
                    record=lambda finished: self.outcomes.record(
                        finished, now=self.clock(), counts=recorded
                    ),
                ).run(ids)
        return BatchReport(**(started + recorded))

    def _group_by_channel(self, ids: list[int]) -> dict[Channel, list[int]]:
        with self.sessions() as session:
            rows = session.execute(
                select(Message.id, Message.channel).where(Message.id.in_(ids)).order_by(Message.id)
            ).all()
        grouped: dict[Channel, list[int]] = {}
        for message_id, channel in rows:
            grouped.setdefault(Channel(channel), []).append(message_id)
        return grouped

    def _start(self, chunk: list[int], counts: Counter[str]) -> list[Outgoing]:
        """Check, render and move a chunk from queued to sending in one transaction."""
        now = self.clock()
        with transaction(self.sessions) as session:
            db = session.connection()
            rows = [
                Candidate._make(row) for row in db.execute(CANDIDATES.where(Message.id.in_(chunk)))
            ]
            ready: dict[int, Outgoing] = {}
            for row in rows:
                channel = Channel(row.channel)
                staff = row.purpose == Purpose.ALERT
                patient_address = row.phone if channel is Channel.SMS else row.email
                decision = decide(
                    channel=channel,
                    purpose=row.purpose,
                    expires_at=row.expires_at,
                    address=row.recipient if staff else patient_address,
                    discharged=row.discharged_at is not None and not staff,
                    consented=staff or bool(row.consented),
                    zone=ZoneInfo(row.timezone),
                    now=now,
                    settings=self.settings,
                )
                if isinstance(decision, Skip):
                    self._leave_queue(session, row.id, MessageStatus.SKIPPED, decision.reason, now)
                    counts["skipped"] += 1
                elif isinstance(decision, Defer):
                    self._leave_queue(
                        session,
                        row.id,
                        MessageStatus.SCHEDULED,
                        decision.reason,
                        now,
                        due_at=decision.until,
                    )
                    counts["deferred"] += 1
                elif isinstance(decision, SendTo):
                    try:
                        ready[row.id] = self._render(row, channel, decision.to)
                    except TemplateProblem as exc:
                        self._leave_queue(session, row.id, MessageStatus.FAILED, str(exc), now)
                        counts["failed"] += 1
            if not ready:
                return []
            started = sorted(
                db.scalars(
                    update(Message)
                    .where(Message.id.in_(ready), Message.status == MessageStatus.QUEUED)
                    .values(
                        status=MessageStatus.SENDING,
                        attempts=Message.attempts + 1,
                        attempted_at=now,
                        updated_at=now,
                    )
                    .returning(Message.id)
                )
            )
            if started:
                db.execute(
                    update(MESSAGES)
                    .where(Message.id == bindparam("message_id"))
                    .values(
                        recipient=bindparam("to"),
                        subject=bindparam("subject"),
                        body=bindparam("body"),
                    ),
                    [
                        {
                            "message_id": message_id,
                            "to": ready[message_id].to,
                            "subject": ready[message_id].subject,
                            "body": ready[message_id].body,
                        }
                        for message_id in started
                    ],
                )
        return [ready[message_id] for message_id in started]

    def _render(self, row: Candidate, channel: Channel, to: str) -> Outgoing:
        if row.purpose == Purpose.ALERT:
            # Written when the alert was raised, from the patient's reply.
            return Outgoing(row.id, to, row.body or "", subject=row.subject)
        visit = row.visit()
        context = message_context(patient=row, visit=visit, settings=self.settings)
        if channel is Channel.SMS:
            text = self.renderer.sms(row.template, row.language, context)
            return Outgoing(row.id, to, text)
        context["answers"] = self.links.answer_urls(row.id)
        email = self.renderer.email(row.template, row.language, context)
        return Outgoing(
            row.id,
            to,
            email.text,
            subject=email.subject,
            html=email.html,
            unsubscribe_url=self.links.unsubscribe_url(row.id),
        )

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
        values: dict[str, object] = {"status": status, "last_error": reason, "updated_at": now}
        if due_at is not None:
            values["due_at"] = due_at
        session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
            .values(**values)
        )


def _throttled(send: Send, throttle: Throttle, sender: str) -> Send:
    """`send`, after waiting for the sender's rate to allow one more message."""

    def throttled_send(outgoing: Outgoing) -> str:
        throttle.acquire(sender)
        return send(outgoing)

    return throttled_send
