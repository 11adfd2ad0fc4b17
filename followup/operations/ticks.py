"""Beat's ticks, recorded: when dispatch, reconcile and escalation last ran, so a
scheduler that stopped shows in /readyz, `followup status` and /metrics at once.

A tick is recorded by the task beat sends, when it has run: it proves beat, the
broker and a worker all did their part. The time is the wall clock, whatever time a
pinned demo clock says.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from followup.config import Settings
from followup.db import insert, rows_changed, transaction
from followup.models.base import utcnow
from followup.models.operations import Tick

DISPATCH = "dispatch"
RECONCILE = "reconcile"
ESCALATION = "escalation"
TICKS = (DISPATCH, RECONCILE, ESCALATION)
ESCALATION_SECONDS = 60.0


def period(name: str, settings: Settings) -> float:
    """How often beat sends tick `name`, in seconds."""
    return ESCALATION_SECONDS if name == ESCALATION else settings.tick_seconds


def record_tick(sessions: sessionmaker[Session], name: str, *, took: float) -> None:
    """Note that tick `name` ran just now and took `took` seconds."""
    now = utcnow()
    with transaction(sessions) as session:
        moved = rows_changed(
            session,
            update(Tick)
            .where(Tick.name == name)
            .values(ran_at=now, took_seconds=took, runs=Tick.runs + 1),
        )
        if not moved:
            session.execute(
                insert(session, Tick)
                .values(name=name, ran_at=now, took_seconds=took, runs=1)
                .on_conflict_do_nothing(index_elements=["name"])
            )


def tick_ages(session: Session, *, now: datetime) -> dict[str, float | None]:
    """Seconds since each tick last ran; None for one that never ran."""
    ran: dict[str, datetime] = {
        name: at for name, at in session.execute(select(Tick.name, Tick.ran_at))
    }
    return {name: (now - ran[name]).total_seconds() if name in ran else None for name in TICKS}
