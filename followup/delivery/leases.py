"""A send task's hold on its rows: taken when it starts, renewed while it lives.

Rows carry the holder's name and a lease end. A heartbeat thread renews the lease of
every queued or sending row the holder has, so a live worker keeps its rows however
long a batch takes, and a dead one (SIGKILL, lost machine) loses them within one
lease: reconciliation then requeues what it never started and looks up what it was
sending (`followup.delivery.reconcile.recover_lapsed`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from followup.db import rows_changed, transaction
from followup.models.outbox import Message, MessageStatus

log = logging.getLogger(__name__)


def holder_name() -> str:
    """Who holds a row, readable by staff: host, process and a per-task suffix."""
    return f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.length = timedelta(seconds=seconds)
        self.clock = clock
        self.holder = holder_name()
        self._stopped = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew_until_stopped, daemon=True)

    def take(self, message_ids: list[int]) -> list[int]:
        """Hold those of `message_ids` that are queued and free (never taken, or left
        by a holder whose lease ran out); return them."""
        if not message_ids:
            return []
        now = self.clock()
        with transaction(self.sessions) as session:
            taken = session.scalars(
                update(Message)
                .where(
                    Message.id.in_(message_ids),
                    Message.status == MessageStatus.QUEUED,
                    or_(Message.claimed_by.is_(None), Message.lease_until < now),
                )
                .values(claimed_by=self.holder, lease_until=now + self.length)
                .returning(Message.id)
            ).all()
        return sorted(taken)

    def __enter__(self) -> Lease:
        self._heartbeat.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._heartbeat.join()

    def renew(self) -> int:
        """Extend the lease on every row still held; returns how many.

        Rows the task itself has locked (a chunk starting, results being recorded) are
        skipped, not waited for: locking them in another order than those statements
        could deadlock with them. They are moving on, and a skipped row still has two
        thirds of its lease when the next heartbeat comes.
        """
        # A materialized CTE: the locking subquery runs once (as in claim_due).
        held = (
            select(Message.id)
            .where(
                Message.claimed_by == self.holder,
                Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
            )
            .with_for_update(skip_locked=True)
            .cte("held")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        with transaction(self.sessions) as session:
            return rows_changed(
                session,
                update(Message)
                .where(Message.id == held.c.id)
                .values(lease_until=self.clock() + self.length),
            )

    def _renew_until_stopped(self) -> None:
        interval = self.length.total_seconds() / 3
        while not self._stopped.wait(interval):
            try:
                self.renew()
            except SQLAlchemyError as exc:
                # The next beat tries again; past the lease, recovery takes the rows.
                log.warning("could not renew lease %s: %s", self.holder, type(exc).__name__)
