"""Escalation: an alert nobody acknowledges is sent again, then to the second tier.

    raised ──(not acknowledged in time)──► step 1: on-call told again
           ──(still not)──► step 2: on-call and the second tier ──► ... up to LAST_STEP

Each step is one UPDATE conditional on the step it leaves, so two beat ticks racing
escalate once; each is written to the alert's history with what was queued.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.content.render import Renderer
from followup.db import rows_changed
from followup.models.replies import Alert, Triage
from followup.operations import metrics
from followup.replies.alerts import SYSTEM, Raised, next_escalation, queue_notices, record_events

# Reminders stop here (about 1.5 hours of reminders for an emergency at the default
# 15 minutes); the alert stays open and listed first until someone acknowledges it.
LAST_STEP = 6
TICK_LIMIT = 200


def escalate_due(session: Session, *, settings: Settings, renderer: Renderer, now: datetime) -> int:
    """Escalate every unacknowledged alert whose time has come; returns how many."""
    due = session.scalars(
        select(Alert)
        .where(Alert.acknowledged_at.is_(None), Alert.escalate_at <= now)
        .order_by(Alert.escalate_at)
        .limit(TICK_LIMIT)
        .with_for_update(skip_locked=True)
    ).all()
    escalated = 0
    for alert in due:
        step = alert.escalation_step + 1
        level = Triage(alert.level)
        later = next_escalation(level, now, settings) if step < LAST_STEP else None
        moved = rows_changed(
            session,
            update(Alert)
            .where(
                Alert.id == alert.id,
                Alert.escalation_step == alert.escalation_step,
                Alert.acknowledged_at.is_(None),
            )
            .values(escalation_step=step, escalate_at=later),
        )
        if not moved:
            continue
        action, routes, detail = _step(step, settings)
        queued = queue_notices(
            session,
            [Raised(alert.id, alert.patient_id, level)],
            routes,
            step=step,
            settings=settings,
            renderer=renderer,
            now=now,
        )
        if later is None:
            detail += "; last reminder: the alert stays open until acknowledged"
        record_events(
            session,
            [(alert.id, action, f"{queued or 'nothing queued'}{detail}")],
            by=SYSTEM,
            now=now,
        )
        escalated += 1
        metrics.ESCALATIONS.labels(level.value).inc()
    return escalated


def _step(step: int, settings: Settings) -> tuple[str, list[tuple[str, str]], str]:
    """(action, routes, note) for escalation step `step`."""
    if step == 1:
        return "repeated", settings.oncall, ""
    if not settings.second_tier:
        return "repeated", settings.oncall, "; no second tier is set (FOLLOWUP_ESCALATION_*)"
    routes = list(dict.fromkeys(settings.oncall + settings.second_tier))
    return "escalated", routes, ""
