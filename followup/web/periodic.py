"""Celery beat's periodic work, done by `followup serve` itself in development with no
broker: dispatch, reconcile, escalation and the outcomes snapshot on
`celeryconfig.beat_schedule`'s intervals, so the console on the embedded defaults (the
demo's data) sends, settles and escalates end to end. Production has a broker, real workers and beat; this never runs there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from celery import Celery
from starlette.applications import Starlette

import celeryconfig
from followup.config import Settings

log = logging.getLogger(__name__)
# How often the loop looks whether a task is due.
LOOK_EVERY = 1.0


def runs_in_process(settings: Settings) -> bool:
    """Only in development, and only when there is no broker (and so no beat)."""
    return settings.environment == "development" and settings.eager


class InProcessBeat:
    """A daemon thread that calls each periodic task when its interval has passed."""

    def __init__(self, app: Celery, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.tasks: list[tuple[str, float]] = [
            (str(entry["task"]), float(str(entry["schedule"])))
            for entry in celeryconfig.beat_schedule.values()
        ]
        self.app = app
        self.clock = clock
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="followup-beat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        next_at = dict.fromkeys((name for name, _ in self.tasks), self.clock())
        while not self.stopping.is_set():
            for name, every in self.tasks:
                if self.clock() >= next_at[name]:
                    next_at[name] = self.clock() + every
                    self._call(name)
            self.stopping.wait(LOOK_EVERY)

    def _call(self, name: str) -> None:
        try:
            self.app.tasks[name].apply().get()
        except Exception:
            # One failed tick is logged; the next tick tries again, as beat would.
            log.exception("periodic task %s failed", name)


def with_in_process_beat(app: Celery) -> Callable[[Starlette], Any]:
    """A Starlette lifespan that runs the periodic work while the server runs."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        beat = InProcessBeat(app)
        beat.start()
        log.info("no broker: dispatch, reconcile and escalation run in this process")
        try:
            yield
        finally:
            beat.stop()

    return lifespan
