"""Liveness and readiness: what /livez, /readyz and `followup status` answer.

Readiness is a list of verdicts, each a check with what it saw and its bound, and
no patient detail: the database reachable and its schema at the newest migration,
Redis reachable, beat's ticks recent, workers seen recently, and the oldest message
that is due but not yet sent. Any verdict past its bound makes the whole not ready.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache

import redis
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from followup.config import Settings
from followup.db import alembic_config
from followup.models.outbox import Message, MessageStatus
from followup.operations.ticks import period, tick_ages
from followup.operations.workers import seen_within

# Due and not yet handed to a provider: waiting for a tick, or claimed and queued.
UNSENT = (MessageStatus.SCHEDULED, MessageStatus.QUEUED)


@dataclass(frozen=True)
class Verdict:
    check: str
    ok: bool
    detail: str
    # What was measured against what bound, where the check is an age.
    seconds: float | None = None
    bound_seconds: float | None = None


@dataclass(frozen=True)
class Readiness:
    verdicts: list[Verdict]

    @property
    def ok(self) -> bool:
        return all(verdict.ok for verdict in self.verdicts)

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ok else "not ready",
            "checks": [asdict(verdict) for verdict in self.verdicts],
        }


def readiness(
    *, settings: Settings, engine: Engine, sessions: sessionmaker[Session], now: datetime
) -> Readiness:
    verdicts = [database_verdict(engine)]
    if verdicts[0].ok:
        with sessions() as session:
            verdicts += tick_verdicts(session, settings=settings, now=now)
            verdicts.append(oldest_due_verdict(session, settings=settings, now=now))
    verdicts += broker_verdicts(settings)
    return Readiness(verdicts)


@cache
def newest_migration() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def database_verdict(engine: Engine) -> Verdict:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return Verdict("database", False, f"unreachable: {type(cause).__name__}")
    head = newest_migration()
    if current != head:
        return Verdict(
            "database", False, f"schema at {current or 'nothing'}, newest migration {head}"
        )
    return Verdict("database", True, f"reachable, schema at {current}")


def tick_verdicts(session: Session, *, settings: Settings, now: datetime) -> list[Verdict]:
    """A verdict per tick of beat: each is late once it has missed a few periods."""
    verdicts = []
    for name, age in tick_ages(session, now=now).items():
        bound = settings.ready_tick_seconds + period(name, settings)
        if age is None:
            verdicts.append(Verdict(f"{name} tick", False, "never ran", None, bound))
        else:
            late = age > bound
            detail = f"ran {age:.0f} s ago" + (" (is beat running?)" if late else "")
            verdicts.append(Verdict(f"{name} tick", not late, detail, round(age, 1), bound))
    return verdicts


def oldest_due_verdict(session: Session, *, settings: Settings, now: datetime) -> Verdict:
    oldest = session.scalar(
        select(func.min(Message.due_at)).where(Message.status.in_(UNSENT), Message.due_at <= now)
    )
    bound = settings.ready_due_seconds
    if oldest is None:
        return Verdict("oldest due message", True, "nothing due is waiting", 0.0, bound)
    age = (now - oldest).total_seconds()
    late = age > bound
    detail = f"due {age:.0f} s ago, not yet sent" + (" (are workers sending?)" if late else "")
    return Verdict("oldest due message", not late, detail, round(age, 1), bound)


def broker_verdicts(settings: Settings) -> list[Verdict]:
    if settings.eager:
        return [Verdict("redis", True, "not used: tasks run in this process")]
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
        workers = seen_within(client, settings.ready_worker_seconds)
    except redis.RedisError as exc:
        return [Verdict("redis", False, f"unreachable: {type(exc).__name__}")]
    finally:
        client.close()
    bound = settings.ready_worker_seconds
    seen = Verdict(
        "workers",
        bool(workers),
        f"{len(workers)} seen in the last {bound:.0f} s" if workers else "none seen lately",
        bound_seconds=bound,
    )
    return [Verdict("redis", True, "reachable"), seen]


def liveness() -> dict[str, str]:
    """The process answers; nothing else is checked (a restart would not fix it)."""
    return {"status": "alive"}
