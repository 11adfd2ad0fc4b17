"""A standby beat: any number of `celery beat` processes may run; the one holding
the installation's lock in PostgreSQL schedules, the others wait and try again every
few seconds.

The lock is a session-level advisory lock (`pg_try_advisory_lock`), held by a
connection of its own for as long as the beat lives. When the beat dies, however it
dies, its connection closes and PostgreSQL lets go of the lock at once; a standby
takes it at its next try. Why PostgreSQL rather than a lock in Redis: the database is
the outbox and already the source of truth, a Redis restart (Redis here keeps nothing
on disk) does not hand the schedule to two beats, and no new service or package is
needed. A beat that loses its own connection stops scheduling at its next tick.

With SQLite (one machine, development) there is nobody to share with: the beat
always schedules.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery.beat import PersistentScheduler
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from followup.config import Settings
from followup.db import make_engine

log = logging.getLogger(__name__)

# The lock's number, the same for every beat of an installation ("followup" in ASCII).
LOCK_KEY = 0x666F6C6C6F777570
# How often a standby tries to take the lock, in seconds.
STANDBY_RETRY = 5.0
# The lock's connection notices a vanished peer within about half a minute.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class ScheduleLock:
    """The installation's one schedule lock, taken and kept by one process."""

    def __init__(self, database_url: str) -> None:
        self.shared = not database_url.startswith("sqlite")
        self.engine = (
            make_engine(database_url, poolclass=NullPool, connect_args=KEEPALIVES)
            if self.shared
            else None
        )
        self.connection: Connection | None = None

    def held(self) -> bool:
        """True if this process holds the lock, taking it if it is free."""
        if self.engine is None:
            return True
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                log.error("beat: lost the schedule lock's connection; not scheduling")
                self._drop()
                return False
        try:
            connection = self.engine.connect()
            taken = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
            connection.commit()
        except SQLAlchemyError as exc:
            log.error(
                "beat: cannot reach the database for the schedule lock: %s", type(exc).__name__
            )
            return False
        if not taken:
            connection.close()
            return False
        self.connection = connection
        log.warning("beat: took the schedule lock; this beat schedules now")
        return True

    def release(self) -> None:
        self._drop()
        if self.engine is not None:
            self.engine.dispose()

    def _drop(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self.connection.close()
            self.connection = None


class StandbyScheduler(PersistentScheduler):
    """Celery's persistent scheduler, scheduling only while it holds the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = ScheduleLock(Settings.from_env().database_url)
        self.waiting_logged = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.lock.held():
            if not self.waiting_logged:
                log.warning("beat: another beat holds the schedule lock; standing by")
                self.waiting_logged = True
            return STANDBY_RETRY
        self.waiting_logged = False
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        self.lock.release()
