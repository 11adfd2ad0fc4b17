"""Holding a patient's series: after an emergency or attention reply, no "keep moving,
do your exercises" until staff have looked.

A pause holds the patient's plan and campaign messages (staff alerts and answers go
on) until staff resume the series or the pause runs out. Messages due meanwhile stay
scheduled; one whose expiry passes during the pause is skipped, as any late step is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import insert_rows, rows_changed
from followup.exceptions import InvalidInput
from followup.models.care import SeriesPause
from followup.models.outbox import Message, Purpose

TRIAGE_BY = "triage"  # who paused a series the system paused itself
MAX_PAUSE_HOURS = 24 * 90


def pause_series(
    session: Session,
    pauses: Iterable[tuple[int, str]],
    *,
    by: str,
    now: datetime,
    settings: Settings,
    hours: float | None = None,
) -> None:
    """Pause each (patient id, reason)'s series for `hours` (default
    `series_pause_hours`); a pause already in force runs on beside the new one."""
    rows = [
        {
            "patient_id": patient_id,
            "paused_at": now,
            "until": now + timedelta(hours=settings.series_pause_hours if hours is None else hours),
            "reason": reason.strip(),
            "paused_by": by.strip(),
        }
        for patient_id, reason in pauses
    ]
    if any(not row["reason"] for row in rows) or not by.strip():
        raise InvalidInput("say who pauses the series and why (--by, --reason)")
    if hours is not None and not 0 < hours <= MAX_PAUSE_HOURS:
        raise InvalidInput(f"a pause lasts more than 0 and at most {MAX_PAUSE_HOURS} hours")
    insert_rows(session, SeriesPause, rows)


def resume_series(session: Session, *, patient_id: int, by: str, reason: str, now: datetime) -> int:
    """End every pause in force for the patient; returns how many ended."""
    if not reason.strip() or not by.strip():
        raise InvalidInput("say who resumes the series and why (--by, --reason)")
    ended = rows_changed(
        session,
        update(SeriesPause)
        .where(SeriesPause.patient_id == patient_id, in_force(now))
        .values(resumed_at=now, resumed_by=by.strip(), resume_reason=reason.strip()),
    )
    if not ended:
        raise InvalidInput("this patient's series is not paused")
    return ended


def pause_in_force(session: Session, patient_id: int, now: datetime) -> SeriesPause | None:
    """The pause in force that lasts longest, if any."""
    return session.scalars(
        select(SeriesPause)
        .where(SeriesPause.patient_id == patient_id, in_force(now))
        .order_by(SeriesPause.until.desc())
        .limit(1)
    ).first()


def in_force(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(SeriesPause.resumed_at.is_(None), SeriesPause.until > now)


def held_back(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """True for an outbox row that a pause holds: a plan or campaign message (never an
    alert to staff, nor a staff member's own answer to the patient)."""
    return and_(
        Message.purpose.in_((Purpose.CARE, Purpose.CAMPAIGN)),
        exists().where(SeriesPause.patient_id == Message.patient_id, in_force(now)),
    )
