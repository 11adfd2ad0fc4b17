"""Recording what the provider said about each send, as the next state of its row.

    sent        accepted: the provider's id is kept (never one another row holds)
    scheduled   nothing was sent (refused connection, SMTP 4xx): retry with backoff,
                bounded; held back (429, rate limiter down): retry, not counted
    unknown     the provider may have it (5xx, timeout): looked up soon
    failed      refused for good, with the code; 21610 also records the opt-out

A success may also settle a row that recovery had marked `unknown` meanwhile; every
other change leaves only `sending`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from concurrent.futures import Future
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from followup.care.patients import record_consents
from followup.config import Settings
from followup.db import transaction
from followup.delivery.channels import Outgoing
from followup.delivery.channels.sms import UNSUBSCRIBED
from followup.delivery.sending import SENDABLE, mark_sent
from followup.exceptions import (
    AmbiguousDeliveryError,
    DeliveryError,
    HeldBackError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from followup.models.base import Channel
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.schedule import retry_delay

log = logging.getLogger(__name__)


class OutcomeRecorder:
    def __init__(
        self, *, sessions: sessionmaker[Session], settings: Settings, rng: random.Random
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.rng = rng

    def record(
        self, results: list[tuple[Outgoing, Future[str]]], *, now: datetime, counts: Counter[str]
    ) -> None:
        """Record what the provider said, for every finished send, in one transaction."""
        sent = [(o, f.result()) for o, f in results if f.exception() is None]
        with transaction(self.sessions) as session:
            if sent:
                self._record_sent(session, sent, now)
                counts["sent"] += len(sent)
            for outgoing, future in results:
                error = future.exception()
                if error is None:
                    continue
                values = self._failure(session, outgoing, error, now, counts)
                session.execute(
                    update(Message)
                    .where(
                        Message.id == outgoing.message_id, Message.status == MessageStatus.SENDING
                    )
                    .values(updated_at=now, **values)
                )

    def _record_sent(
        self, session: Session, sent: list[tuple[Outgoing, str]], now: datetime
    ) -> None:
        """A row that recovery marked unknown meanwhile was sent after all; a provider
        id some other row already holds is never copied: that row goes to staff."""
        firsts: dict[str, int] = {}
        for outgoing, provider_id in sent:
            # The same id twice in one batch: only the first row may take it.
            firsts.setdefault(provider_id, outgoing.message_id)
        recorded = mark_sent(
            session, [(message_id, pid) for pid, message_id in firsts.items()], now=now
        )
        left = [o.message_id for o, _ in sent if recorded is None or o.message_id not in recorded]
        clashed = (
            session.scalars(
                select(Message.id).where(Message.id.in_(left), Message.status.in_(SENDABLE))
            ).all()
            if left
            else []
        )
        if clashed:
            log.error("provider ids already held by other messages: %s", sorted(clashed))
            session.execute(
                update(Message)
                .where(Message.id.in_(clashed))
                .values(
                    status=MessageStatus.UNKNOWN,
                    settle_at=None,
                    updated_at=now,
                    last_error="the provider's id for this send is recorded on another "
                    "message: staff decide",
                )
            )

    def _failure(
        self,
        session: Session,
        outgoing: Outgoing,
        error: BaseException,
        now: datetime,
        counts: Counter[str],
    ) -> dict[str, object]:
        if not isinstance(error, DeliveryError):
            # A bug of ours after the hand-over may hide a real send: never resend blindly.
            log.exception(
                "unexpected error sending message %s", outgoing.message_id, exc_info=error
            )
            error = AmbiguousDeliveryError(f"unexpected error: {error!r}")
        values: dict[str, object] = {"last_error": error.reason, "error_code": error.code}
        if isinstance(error, HeldBackError):
            # Held back before the provider took it: not an attempt; wait and try again.
            counts["retrying"] += 1
            return values | self._retry(1, now) | {"attempts": Message.attempts - 1}
        if isinstance(error, TransientDeliveryError):
            message = session.get_one(Message, outgoing.message_id)
            if message.attempts < self.settings.max_attempts:
                counts["retrying"] += 1
                return values | self._retry(message.attempts, now)
            counts["failed"] += 1
            return values | {
                "status": MessageStatus.FAILED,
                "last_error": f"gave up after {message.attempts} attempts: {error.reason}",
            }
        if isinstance(error, PermanentDeliveryError):
            if error.code == UNSUBSCRIBED:
                self._record_carrier_opt_out(session, outgoing, now)
            counts["failed"] += 1
            return values | {"status": MessageStatus.FAILED}
        counts["unknown"] += 1
        settle_at = now + timedelta(seconds=self.settings.reconcile_after_seconds)
        return values | {"status": MessageStatus.UNKNOWN, "settle_at": settle_at}

    def _retry(self, attempts: int, now: datetime) -> dict[str, object]:
        """Back in line after a backoff with jitter that grows with `attempts`."""
        delay = retry_delay(
            attempts,
            base=self.settings.retry_base_seconds,
            cap=self.settings.retry_max_seconds,
            rng=self.rng,
        )
        return {"status": MessageStatus.SCHEDULED, "due_at": now + delay, "claimed_by": None}

    def _record_carrier_opt_out(self, session: Session, outgoing: Outgoing, now: datetime) -> None:
        patient = session.scalars(
            select(Patient).join(Message).where(Message.id == outgoing.message_id)
        ).one()
        record_consents(
            session,
            patient,
            {(Channel.SMS, purpose): False for purpose in Purpose},
            source="twilio-21610",
            by="provider",
            at=now,
        )
