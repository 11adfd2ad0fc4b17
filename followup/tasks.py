"""Celery tasks: thin, they take ids and call the domain code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from celery import shared_task

from followup import runtime
from followup.campaigns.launches import write_launch
from followup.care.outcome_snapshot import take_snapshot
from followup.db import transaction
from followup.delivery.claims import claim_due, sms_room, unclaim
from followup.delivery.dispatch import Clock
from followup.delivery.reconcile import reconcile_unknown, recover_lapsed
from followup.models.base import utcnow
from followup.operations import metrics
from followup.operations.ticks import DISPATCH, ESCALATION, RECONCILE, record_tick
from followup.replies.escalation import escalate_due


def _clock(at: str | None) -> Clock:
    """`at` (ISO time) pins the clock, for the demo and `followup dispatch --at`."""
    if at is None:
        return utcnow
    fixed = datetime.fromisoformat(at)
    return lambda: fixed


@contextmanager
def _ticking(rt: runtime.Runtime, name: str) -> Iterator[None]:
    """Record tick `name` once the task's work is done (not when it failed)."""
    started = time.monotonic()
    yield
    record_tick(rt.sessions, name, took=time.monotonic() - started)
    metrics.TICKS.labels(name).inc()


@shared_task(name="followup.tasks.dispatch_due")
def dispatch_due(at: str | None = None) -> int:
    """Recover rows of dead workers, claim what is due and hand it to send tasks;
    returns how many rows were claimed."""
    rt = runtime.current()
    with _ticking(rt, DISPATCH):
        return _dispatch(rt, _clock(at)(), at)


def _dispatch(rt: runtime.Runtime, now: datetime, at: str | None) -> int:
    recover_lapsed(rt.sessions, now=now)
    with rt.sessions() as session:
        room = sms_room(session, rt.settings)
    batches = claim_due(
        rt.sessions,
        now=now,
        limit=rt.settings.dispatch_limit,
        batch_size=rt.settings.batch_size,
        sms_limit=room,
        wait=timedelta(seconds=rt.settings.queue_wait_seconds),
    )
    for number, batch in enumerate(batches):
        try:
            send_batch.delay(batch.message_ids, at)
        except Exception:
            # The broker is down: what it did not take goes back in line at once.
            unclaim(rt.sessions, [i for b in batches[number:] for i in b.message_ids], now=now)
            raise
    return sum(len(batch.message_ids) for batch in batches)


@shared_task(name="followup.tasks.send_batch")
def send_batch(message_ids: list[int], at: str | None = None) -> dict[str, int]:
    report = runtime.current().dispatcher(_clock(at)).send_batch(message_ids)
    return report.__dict__


@shared_task(name="followup.tasks.launch_campaign")
def launch_campaign(campaign_id: int, by: str, at: str | None = None) -> int:
    """Write a launched campaign's messages; returns how many were new."""
    rt = runtime.current()
    return write_launch(rt.sessions, campaign_id, settings=rt.settings, by=by, now=_clock(at)())


def write_in_background(rt: runtime.Runtime, campaign_id: int, by: str) -> int | None:
    """Hand a requested launch to a worker (None); with no broker, write it in this
    process and return how many rows were new."""
    if rt.settings.eager:
        return write_launch(rt.sessions, campaign_id, settings=rt.settings, by=by)
    launch_campaign.delay(campaign_id, by)
    return None


@shared_task(name="followup.tasks.reconcile")
def reconcile(at: str | None = None) -> dict[str, int]:
    rt = runtime.current()
    with _ticking(rt, RECONCILE):
        settlement = reconcile_unknown(
            rt.sessions, channels=rt.channels, now=_clock(at)(), settings=rt.settings
        )
    return settlement.__dict__


@shared_task(name="followup.tasks.escalate_alerts")
def escalate_alerts(at: str | None = None) -> int:
    """Repeat or escalate unacknowledged alerts whose time has come; returns how many."""
    rt = runtime.current()
    with _ticking(rt, ESCALATION), transaction(rt.sessions) as session:
        return escalate_due(session, settings=rt.settings, renderer=rt.renderer, now=_clock(at)())


@shared_task(name="followup.tasks.refresh_outcomes")
def refresh_outcomes() -> int:
    """Store every episode's outcome for the outcomes page; returns how many."""
    with transaction(runtime.current().sessions) as session:
        return take_snapshot(session)
