"""Prometheus metrics: counters and histograms the processes add to as they work,
and gauges read from the database and Redis when /metrics is scraped.

Multiprocess mode: with `PROMETHEUS_MULTIPROC_DIR` set (before any process starts;
the systemd units set it), every uvicorn worker and every Celery prefork child writes
its counts to files there and a scrape adds them all up. Without it, a process counts
for itself. Labels name channels, states, purposes, codes, levels and routes, never a
patient, an address or a message.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from datetime import datetime

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import celeryconfig
from followup.config import Settings
from followup.models.outbox import Message, MessageStatus
from followup.models.replies import Alert
from followup.operations.health import UNSENT
from followup.operations.ticks import tick_ages
from followup.operations.workers import seen_within

__all__ = ["CONTENT_TYPE_LATEST", "scrape"]

SENDS = Counter(
    "followup_sends_total",
    "Sends that reached an outcome, by channel and outcome (sent, retry, failed, unknown).",
    ["channel", "outcome"],
)
SEND_SECONDS = Histogram(
    "followup_send_duration_seconds",
    "Time from handing a message to its provider to its answer, by channel.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
PROVIDER_ERRORS = Counter(
    "followup_provider_errors_total",
    "Errors the providers answered, by channel and code (HTTP status or provider code).",
    ["channel", "code"],
)
ESCALATIONS = Counter(
    "followup_escalation_steps_total",
    "Unacknowledged alerts repeated or sent to the second tier, by level.",
    ["level"],
)
REPLIES = Counter(
    "followup_replies_total",
    "Patient replies read, by triage and by the reader that decided it (rules, model).",
    ["triage", "reader"],
)
REQUEST_SECONDS = Histogram(
    "followup_http_request_duration_seconds",
    "Web requests (webhooks, links, API, console) by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TICKS = Counter("followup_ticks_total", "Ticks of beat's tasks that ran, by tick.", ["tick"])


def celery_queues() -> list[str]:
    routed = {route["queue"] for route in celeryconfig.task_routes.values()}
    return sorted(routed | {celeryconfig.task_default_queue})


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def child_exited(pid: int) -> None:
    """Tell multiprocess mode that a process is gone (Celery calls this per child)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class ProcessFilesCollector(multiprocess.MultiProcessCollector):
    """The processes' counts from their files, passing over files that hold nothing yet.

    A process creates its file empty and only then sizes it: a file caught in between,
    or left so by a process killed in between, would otherwise fail every scrape.
    """

    def collect(self) -> Iterable[Metric]:
        return self.merge(begun_files(self._path), accumulate=True)


def begun_files(directory: str) -> list[str]:
    """The files in `directory` long enough to hold their header."""
    files = []
    for path in glob.glob(os.path.join(directory, "*.db")):
        try:
            if os.path.getsize(path) >= 8:
                files.append(path)
        except FileNotFoundError:
            continue
    return files


class OutboxCollector(Collector):
    """Gauges read at scrape time: the outbox, the alerts, beat's ticks, the broker."""

    def __init__(
        self, *, settings: Settings, sessions: sessionmaker[Session], now: datetime
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.now = now

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            yield from self._outbox(session)
            yield from self._alerts(session)
            ticks = GaugeMetricFamily(
                "followup_tick_age_seconds",
                "Seconds since each of beat's ticks last ran (absent: never ran).",
                labels=["tick"],
            )
            for name, age in tick_ages(session, now=self.now).items():
                if age is not None:
                    ticks.add_metric([name], age)
            yield ticks
        if not self.settings.eager:
            yield from self._broker()

    def _outbox(self, session: Session) -> Iterator[Metric]:
        messages = GaugeMetricFamily(
            "followup_messages",
            "Messages in the outbox, by state, channel and purpose.",
            labels=["state", "channel", "purpose"],
        )
        rows = session.execute(
            select(Message.status, Message.channel, Message.purpose, func.count()).group_by(
                Message.status, Message.channel, Message.purpose
            )
        )
        for state, channel, purpose, count in rows:
            messages.add_metric([state, channel, purpose], count)
        yield messages
        oldest = session.scalar(
            select(func.min(Message.due_at)).where(
                Message.status.in_(UNSENT), Message.due_at <= self.now
            )
        )
        yield GaugeMetricFamily(
            "followup_oldest_due_message_age_seconds",
            "How long the oldest message that is due but not sent has been due (0: none).",
            value=(self.now - oldest).total_seconds() if oldest else 0.0,
        )
        unknown = GaugeMetricFamily(
            "followup_unknown_for_staff_messages",
            "Maybe-sent messages no look-up can settle: staff decide each.",
            value=session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.status == MessageStatus.UNKNOWN, Message.settle_at.is_(None))
            )
            or 0,
        )
        yield unknown

    def _alerts(self, session: Session) -> Iterator[Metric]:
        open_alerts = GaugeMetricFamily(
            "followup_open_alerts", "Alerts not yet acknowledged, by level.", labels=["level"]
        )
        oldest = GaugeMetricFamily(
            "followup_oldest_unacknowledged_alert_age_seconds",
            "Age of the oldest alert not yet acknowledged, by level.",
            labels=["level"],
        )
        rows = session.execute(
            select(Alert.level, func.count(), func.min(Alert.created_at))
            .where(Alert.acknowledged_at.is_(None))
            .group_by(Alert.level)
        )
        for level, count, first in rows:
            open_alerts.add_metric([level], count)
            oldest.add_metric([level], (self.now - first).total_seconds())
        yield open_alerts
        yield oldest

    def _broker(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "followup_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
        )
        workers = GaugeMetricFamily(
            "followup_workers_seen",
            "Workers whose heartbeat reached Redis in the readiness bound.",
        )
        up = GaugeMetricFamily("followup_redis_up", "1 if Redis answered this scrape.")
        client = redis.Redis.from_url(
            self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            for queue in celery_queues():
                depth.add_metric([queue], client.llen(queue))
            workers.add_metric([], len(seen_within(client, self.settings.ready_worker_seconds)))
            up.add_metric([], 1)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        finally:
            client.close()
        yield from (depth, workers, up)


def scrape(*, settings: Settings, sessions: sessionmaker[Session], now: datetime) -> bytes:
    """The text a scrape of /metrics gets."""
    if multiprocess_dir():
        counted = CollectorRegistry()
        ProcessFilesCollector(counted)
    else:
        counted = REGISTRY
    read = CollectorRegistry()
    read.register(OutboxCollector(settings=settings, sessions=sessions, now=now))
    return generate_latest(counted) + generate_latest(read)
