"""Celery tasks: thin, they take ids and call the domain code."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from followup import runtime
from followup.db import transaction
from followup.dispatch import Clock, claim_due, sms_room
from followup.escalation import escalate_due
from followup.models import utcnow
from followup.reconcile import reconcile_unknown


def _clock(at: str | None) -> Clock:
    """`at` (ISO time) pins the clock, for the demo and `followup dispatch --at`."""
    if at is None:
        return utcnow
    fixed = datetime.fromisoformat(at)
    return lambda: fixed


@shared_task(name="followup.tasks.dispatch_due")
def dispatch_due(at: str | None = None) -> int:
    """Claim what is due and hand it to send tasks; returns how many rows were claimed."""
    rt = runtime.current()
    with rt.sessions() as session:
        room = sms_room(session, rt.settings)
    batches = claim_due(
        rt.sessions,
        now=_clock(at)(),
        limit=rt.settings.dispatch_limit,
        batch_size=rt.settings.batch_size,
        sms_limit=room,
    )
    for batch in batches:
        send_batch.delay(batch.message_ids, at)
    return sum(len(batch.message_ids) for batch in batches)


@shared_task(name="followup.tasks.send_batch")
def send_batch(message_ids: list[int], at: str | None = None) -> dict[str, int]:
    report = runtime.current().dispatcher(_clock(at)).send_batch(message_ids)
    return report.__dict__


@shared_task(name="followup.tasks.reconcile")
def reconcile(at: str | None = None) -> dict[str, int]:
    rt = runtime.current()
    settlement = reconcile_unknown(
        rt.sessions, channels=rt.channels, now=_clock(at)(), settings=rt.settings
    )
    return settlement.__dict__


@shared_task(name="followup.tasks.escalate_alerts")
def escalate_alerts(at: str | None = None) -> int:
    """Repeat or escalate unacknowledged alerts whose time has come; returns how many."""
    rt = runtime.current()
    with transaction(rt.sessions) as session:
        return escalate_due(session, settings=rt.settings, renderer=rt.renderer, now=_clock(at)())
