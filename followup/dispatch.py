"""The outbox state machine: claim due rows, send them, record every outcome.

    scheduled ─claim─► queued ─start─► sending ─► sent (─► delivered, by callback)
        ▲                 │               ├─► scheduled  nothing was sent: retry later
        └─ deferred ──────┤               ├─► unknown    maybe sent: reconcile first
                          └─► skipped     └─► failed     refused for good

Every transition is one UPDATE conditional on the state it leaves, so a task that
runs twice, or two workers racing, move a row once and send it once.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from followup.channels import DeliveryChannel, Outgoing
from followup.channels.sms import UNSUBSCRIBED
from followup.config import Settings
from followup.db import transaction
from followup.eligibility import Defer, Send, Skip, decide
from followup.exceptions import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TemplateProblem,
    TransientDeliveryError,
)
from followup.models import Channel, Consent, Message, MessageStatus, Patient, Purpose, Visit
from followup.patients import record_consent
from followup.render import Renderer, message_context
from followup.schedule import retry_delay

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


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
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.channels = channels
        self.renderer = renderer
        self.clock = clock
        self.rng = rng or random.Random()

    def send_batch(self, message_ids: Iterable[int]) -> BatchReport:
        """Send the queued rows among `message_ids`; rows in any other state are left alone.

        Rows move to `sending` in chunks only as room frees up, so a row is `sending`
        only while its request may really be in flight.
        """
        counts: dict[str, int] = {}
        by_channel = self._group_by_channel(list(message_ids))
        for channel_kind, ids in by_channel.items():
            channel = self.channels[channel_kind]
            pending = deque(ids)
            with channel.connect() as send, ThreadPoolExecutor(channel.concurrency) as pool:
                in_flight: dict[Future[str], Outgoing] = {}
                while pending or in_flight:
                    room = channel.concurrency - len(in_flight)
                    if pending and room > 0:
                        chunk = [pending.popleft() for _ in range(min(room, len(pending)))]
                        for outgoing in self._start(chunk, counts):
                            in_flight[pool.submit(send, outgoing)] = outgoing
                        continue
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    self._record([(in_flight.pop(future), future) for future in done], counts)
        return BatchReport(**counts)

    def _group_by_channel(self, ids: list[int]) -> dict[Channel, list[int]]:
        with self.sessions() as session:
            rows = session.execute(
                select(Message.id, Message.channel).where(Message.id.in_(ids)).order_by(Message.id)
            ).all()
        grouped: dict[Channel, list[int]] = {}
        for message_id, channel in rows:
            grouped.setdefault(Channel(channel), []).append(message_id)
        return grouped

    def _start(self, chunk: list[int], counts: dict[str, int]) -> list[Outgoing]:
        """Check, render and move a chunk from queued to sending in one transaction."""
        now = self.clock()
        with transaction(self.sessions) as session:
            rows = session.execute(
                select(Message, Patient, Visit)
                .join(Patient, Message.patient_id == Patient.id)
                .outerjoin(Visit, Message.visit_id == Visit.id)
                .where(Message.id.in_(chunk), Message.status == MessageStatus.QUEUED)
            ).all()
            consents = _consents(session, {patient.id for _, patient, _ in rows})
            ready: dict[int, Outgoing] = {}
            for message, patient, visit in rows:
                consented = consents.get((patient.id, message.channel, message.purpose), False)
                decision = decide(
                    message, patient, consented=consented, now=now, settings=self.settings
                )
                if isinstance(decision, Skip):
                    self._leave_queue(
                        session, message.id, MessageStatus.SKIPPED, decision.reason, now
                    )
                    _bump(counts, "skipped")
                elif isinstance(decision, Defer):
                    self._leave_queue(
                        session,
                        message.id,
                        MessageStatus.SCHEDULED,
                        decision.reason,
                        now,
                        due_at=decision.until,
                    )
                    _bump(counts, "deferred")
                elif isinstance(decision, Send):
                    try:
                        ready[message.id] = self._render(message, patient, visit, decision.to)
                    except TemplateProblem as exc:
                        self._leave_queue(session, message.id, MessageStatus.FAILED, str(exc), now)
                        _bump(counts, "failed")
            if not ready:
                return []
            started = set(
                session.scalars(
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
                session.execute(
                    update(Message),
                    [
                        {
                            "id": message_id,
                            "recipient": ready[message_id].to,
                            "subject": ready[message_id].subject,
                            "body": ready[message_id].body,
                        }
                        for message_id in started
                    ],
                )
        return [ready[message_id] for message_id in sorted(started)]

    def _render(self, message: Message, patient: Patient, visit: Visit | None, to: str) -> Outgoing:
        context = message_context(patient=patient, visit=visit, settings=self.settings)
        if message.channel == Channel.SMS:
            text = self.renderer.sms(message.template, patient.language, context)
            return Outgoing(message.id, to, text)
        email = self.renderer.email(message.template, patient.language, context)
        return Outgoing(message.id, to, email.text, subject=email.subject, html=email.html)

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

    def _record(self, results: list[tuple[Outgoing, Future[str]]], counts: dict[str, int]) -> None:
        """Record what the provider said, for every finished send, in one transaction."""
        now = self.clock()
        with transaction(self.sessions) as session:
            for outgoing, future in results:
                error = future.exception()
                if error is None:
                    values: dict[str, object] = {
                        "status": MessageStatus.SENT,
                        "provider_id": future.result(),
                        "sent_at": now,
                        "last_error": None,
                        "error_code": None,
                    }
                    # A row that recovery marked unknown meanwhile was sent after all.
                    leaving: tuple[MessageStatus, ...] = (
                        MessageStatus.SENDING,
                        MessageStatus.UNKNOWN,
                    )
                    _bump(counts, "sent")
                else:
                    values = self._failure(session, outgoing, error, now, counts)
                    leaving = (MessageStatus.SENDING,)
                session.execute(
                    update(Message)
                    .where(Message.id == outgoing.message_id, Message.status.in_(leaving))
                    .values(updated_at=now, **values)
                )

    def _failure(
        self,
        session: Session,
        outgoing: Outgoing,
        error: BaseException,
        now: datetime,
        counts: dict[str, int],
    ) -> dict[str, object]:
        if not isinstance(error, DeliveryError):
            # A bug of ours after the hand-over may hide a real send: never resend blindly.
            log.exception(
                "unexpected error sending message %s", outgoing.message_id, exc_info=error
            )
            error = AmbiguousDeliveryError(f"unexpected error: {error!r}")
        values: dict[str, object] = {"last_error": error.reason, "error_code": error.code}
        if isinstance(error, TransientDeliveryError):
            message = session.get_one(Message, outgoing.message_id)
            if message.attempts < self.settings.max_attempts:
                delay = retry_delay(
                    message.attempts,
                    base=self.settings.retry_base_seconds,
                    cap=self.settings.retry_max_seconds,
                    rng=self.rng,
                )
                _bump(counts, "retrying")
                return values | {"status": MessageStatus.SCHEDULED, "due_at": now + delay}
            _bump(counts, "failed")
            return values | {
                "status": MessageStatus.FAILED,
                "last_error": f"gave up after {message.attempts} attempts: {error.reason}",
            }
        if isinstance(error, PermanentDeliveryError):
            if error.code == UNSUBSCRIBED:
                self._record_carrier_opt_out(session, outgoing, now)
            _bump(counts, "failed")
            return values | {"status": MessageStatus.FAILED}
        _bump(counts, "unknown")
        return values | {"status": MessageStatus.UNKNOWN}

    def _record_carrier_opt_out(self, session: Session, outgoing: Outgoing, now: datetime) -> None:
        patient = session.scalars(
            select(Patient).join(Message).where(Message.id == outgoing.message_id)
        ).one()
        for purpose in Purpose:
            record_consent(
                session,
                patient,
                channel=Channel.SMS,
                purpose=purpose,
                granted=False,
                source="twilio-21610",
                by="provider",
                at=now,
            )


def _consents(session: Session, patient_ids: set[int]) -> dict[tuple[int, str, str], bool]:
    if not patient_ids:
        return {}
    rows = session.execute(
        select(Consent.patient_id, Consent.channel, Consent.purpose, Consent.granted).where(
            Consent.patient_id.in_(patient_ids)
        )
    ).all()
    return {(pid, channel, purpose): granted for pid, channel, purpose, granted in rows}


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1
