"""Pain over time: a score that climbs, or a second 7 or more, needs a person.

`read_reply` reads one reply alone; this compares a new score with the patient's
earlier scores in the same episode of care. An episode is the latest run of visits
with no gap longer than `episode_gap_days`; a patient with no visit on file is read
against that many days of replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.models import Reply, Visit

RISE = 3  # points above the previous score
HIGH = 7


def trend_reason(earlier: Sequence[int], score: int) -> str | None:
    """Why `score`, after the `earlier` scores (oldest first), needs staff; else None."""
    if earlier and score >= earlier[-1] + RISE:
        return f"pain rose from {earlier[-1]} to {score}"
    if score >= HIGH and any(previous >= HIGH for previous in earlier):
        return f"pain {score} again after an earlier {HIGH} or more"
    return None


def episode_start(visits: Iterable[datetime], *, gap: timedelta, now: datetime) -> datetime:
    """The first visit of the latest run of visits no further apart than `gap`."""
    times = sorted(visits)
    if not times or now - times[-1] > gap:
        return now - gap
    start = times[-1]
    for earlier, later in zip(reversed(times[:-1]), reversed(times), strict=False):
        if later - earlier > gap:
            break
        start = earlier
    return start


def earlier_scores(
    session: Session, patient_ids: Iterable[int], *, settings: Settings, now: datetime
) -> dict[int, list[int]]:
    """Each patient's pain scores in the current episode, oldest first."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    gap = timedelta(days=settings.episode_gap_days)
    visits: dict[int, list[datetime]] = {patient_id: [] for patient_id in ids}
    for patient_id, visited_at in session.execute(
        select(Visit.patient_id, Visit.visited_at).where(
            Visit.patient_id.in_(ids), Visit.cancelled_at.is_(None), Visit.visited_at <= now
        )
    ):
        visits[patient_id].append(visited_at)
    starts = {pid: episode_start(times, gap=gap, now=now) for pid, times in visits.items()}
    scores: dict[int, list[int]] = {patient_id: [] for patient_id in ids}
    for row in session.execute(
        select(Reply.patient_id, Reply.pain, Reply.received_at)
        .where(
            Reply.patient_id.in_(ids),
            Reply.pain.is_not(None),
            Reply.received_at >= min(starts.values()),
        )
        .order_by(Reply.received_at, Reply.id)
    ):
        known = row.patient_id is not None and row.pain is not None
        if known and row.received_at >= starts[row.patient_id]:
            scores[row.patient_id].append(row.pain)
    return scores
