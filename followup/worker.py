"""The Celery app factory; the worker's start-up check of Redis, its heartbeat, and
the log lines and metrics of worker and beat processes."""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
from celery import Celery, bootsteps
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_shutdown,
    worker_ready,
)

from followup import runtime
from followup.care.outcome_snapshot import REFRESH_EVERY
from followup.config import Settings
from followup.operations import logs, metrics, workers
from followup.runtime import Runtime, use

log = logging.getLogger(__name__)
BROKER_TRANSPORT = "followup.operations.broker:Transport"


def create_celery(settings: Settings, runtime: Runtime | None = None) -> Celery:
    """A Celery app for `settings`; with no Redis URL, tasks run in-process (eager)."""
    app = Celery("followup")
    app.config_from_object("celeryconfig")
    if settings.eager:
        app.conf.update(
            broker_url="memory://localhost/", task_always_eager=True, task_eager_propagates=True
        )
    else:
        # kombu's Redis transport, surviving a Redis restart mid-task (its docstring).
        app.conf.update(broker_url=settings.redis_url, broker_transport=BROKER_TRANSPORT)
    for entry in ("dispatch-due", "reconcile"):
        app.conf.beat_schedule[entry]["schedule"] = settings.tick_seconds
    app.conf.beat_schedule["refresh-outcomes"]["schedule"] = REFRESH_EVERY.total_seconds()
    app.steps["worker"].add(Heartbeat)
    app.autodiscover_tasks(["followup"], force=True)
    app.set_default()
    use(runtime or Runtime(settings))
    return app


def redis_eviction_warning(url: str) -> str | None:
    """A warning if Redis may evict keys, which would silently drop queued tasks."""
    client = redis.Redis.from_url(url)
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.RedisError as exc:
        return f"could not read Redis maxmemory-policy: {exc}"
    finally:
        client.close()
    if policy != "noeviction":
        return (
            f"Redis maxmemory-policy is {policy!r}: under memory pressure it may evict "
            "queued tasks; set it to 'noeviction'"
        )
    return None


@worker_ready.connect
def _check_redis(sender: Any = None, **_: Any) -> None:
    url = sender.app.conf.broker_url if sender is not None else ""
    if url.startswith("redis"):
        warning = redis_eviction_warning(url)
        if warning:
            log.warning(warning)


class Heartbeat(bootsteps.StartStopStep):
    """Every few seconds the worker's main process writes its name to Redis, so
    /readyz and /metrics can tell workers are there (`followup.operations.workers`)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_entry: Any = None
        self.client: redis.Redis | None = None

    def start(self, worker: Any) -> None:
        url = worker.app.conf.broker_url or ""
        if not url.startswith("redis"):
            return
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.beat(worker.hostname)
        self.timer_entry = worker.timer.call_repeatedly(
            workers.INTERVAL, self.beat, (worker.hostname,)
        )

    def beat(self, hostname: str) -> None:
        if self.client is None:
            return
        try:
            workers.heartbeat(self.client, hostname)
        except redis.RedisError as exc:
            # The consumer reconnects on its own; the next beat writes again.
            log.warning("heartbeat not written: %s", type(exc).__name__)

    def stop(self, worker: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        if self.client is not None:
            self.client.close()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_lines(logger: logging.Logger, format: str = "", **_: Any) -> None:  # noqa: A002
    logs.use_formatter(logger, runtime.current().settings, format)


@worker_process_shutdown.connect
def _child_exited(**_: Any) -> None:
    metrics.child_exited(os.getpid())
