"""Two real `celery beat` processes on one installation: one schedules, the other
stands by; SIGKILL the active one and the standby takes over within a minute, and
no tick is ever scheduled by both."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from bench.seeding import fresh_schema
from followup.operations.standby import ScheduleLock
from tests.conftest import POSTGRES_SERVER
from tests.faults.services import CELERY, RedisServer

SCHEMA = "followup_standby"
SENDING = re.compile(r"Scheduler: Sending due task dispatch-due")


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A migrated database and a Redis of its own; the environment beats run with."""
    server = RedisServer()
    server.start()
    url = fresh_schema(POSTGRES_SERVER, SCHEMA)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {
        "FOLLOWUP_DATABASE_URL": url,
        "FOLLOWUP_REDIS_URL": server.url,
        "FOLLOWUP_TICK_SECONDS": "1",
    }
    yield env
    server.stop()


class Beat:
    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.log = workdir / f"beat-{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "followup",
                    "beat",
                    "--loglevel=INFO",
                    f"--schedule={workdir / f'schedule-{name}'}",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def sent(self) -> int:
        return len(SENDING.findall(self.text()))

    def wait_for(self, phrase: str, limit: float) -> float:
        started = time.monotonic()
        while phrase not in self.text():
            assert self.process.poll() is None, self.text()
            assert time.monotonic() - started < limit, f"no {phrase!r} in:\n{self.text()}"
            time.sleep(0.1)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def queued_origins(redis_url: str) -> list[str]:
    """The sender of every task waiting in the queue (Celery writes its node name)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(raw)["headers"]["origin"] for raw in client.lrange("followup", 0, -1)]
    finally:
        client.close()


def test_the_standby_beat_takes_over_when_the_active_one_is_killed(
    installation: dict[str, str], tmp_path: Path
) -> None:
    first = Beat("first", installation, tmp_path)
    second: Beat | None = None
    try:
        first.wait_for("took the schedule lock", 30)
        second = Beat("second", installation, tmp_path)
        second.wait_for("standing by", 30)
        time.sleep(4)  # both alive: only the first schedules
        assert first.sent() >= 2
        assert second.sent() == 0
        origins = set(queued_origins(installation["FOLLOWUP_REDIS_URL"]))
        assert origins == {f"gen{first.process.pid}@{os.uname().nodename}"}

        first.kill()
        by_first = len(queued_origins(installation["FOLLOWUP_REDIS_URL"]))
        took = second.wait_for("took the schedule lock", 60)
        second.wait_for("Sending due task dispatch-due", 60)
        assert took < 60
        time.sleep(3)
        after = queued_origins(installation["FOLLOWUP_REDIS_URL"])
        by_second = [o for o in after if o == f"gen{second.process.pid}@{os.uname().nodename}"]
        # Everything queued is the first's (before it died) or the standby's (after).
        assert len(by_second) == len(after) - by_first > 0
    finally:
        first.kill()
        if second is not None:
            second.kill()


def test_a_beat_whose_lock_connection_dies_stops_scheduling_until_it_holds_it_again(
    postgres_url: str,
) -> None:
    first, second = ScheduleLock(postgres_url), ScheduleLock(postgres_url)
    try:
        # A beat killed by the test before may take a moment to leave PostgreSQL.
        deadline = time.monotonic() + 30
        while not first.held():
            assert time.monotonic() < deadline, "the lock stayed taken"
            time.sleep(0.2)
        assert not second.held()  # the first holds it
        assert first.connection is not None
        backend = first.connection.scalar(text("SELECT pg_backend_pid()"))
        admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            # Waits (up to 10 s) until the backend is gone, and its lock with it.
            connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": backend})
        admin.dispose()
        assert not first.held()  # its connection is gone: it stops at once
        assert second.held()  # and the lock went with it
        assert not first.held()
    finally:
        first.release()
        second.release()


def test_with_sqlite_the_one_beat_always_schedules(tmp_path: Path) -> None:
    lock = ScheduleLock(f"sqlite:///{tmp_path / 'followup.db'}")
    assert lock.held() and lock.held()
    lock.release()
