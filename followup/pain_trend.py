"""Pain over time: a score that climbs, or a second 7 or more, needs a person.

`read_reply` reads one reply alone; this compares a new score with the patient's
earlier scores in the same episode of care. An episode is the latest run of visits
with no gap longer than `episode_gap_days`; a patient with no visit on file is read
against that many days of replies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.models import Reply, UTCDateTime, Visit

RISE = 3  # points above the previous score
HIGH = 7


@dataclass(frozen=True)
class Scores:
    """What a new score is compared with: the patient's latest and highest earlier
    scores in the episode (None: no score yet)."""

    latest: int | None = None
    highest: int | None = None

    def then(self, score: int) -> Scores:
        return Scores(score, score if self.highest is None else max(self.highest, score))


def trend_reason(earlier: Scores, score: int) -> str | None:
    """Why `score`, after the `earlier` scores, needs staff; else None."""
    if earlier.latest is not None and score >= earlier.latest + RISE:
        return f"pain rose from {earlier.latest} to {score}"
    if score >= HIGH and earlier.highest is not None and earlier.highest >= HIGH:
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
) -> dict[int, Scores]:
    """Each patient's latest and highest pain scores in the current episode.

    The database reduces them: a patient who answered every day for months costs one
    row, not one per answer."""
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
    since = case(
        {
            patient_id: literal(episode_start(times, gap=gap, now=now), UTCDateTime())
            for patient_id, times in visits.items()
        },
        value=Reply.patient_id,
    )
    newest_first = (Reply.received_at.desc(), Reply.id.desc())
    in_episode = (
        select(
            Reply.patient_id,
            Reply.pain,
            func.max(Reply.pain).over(partition_by=Reply.patient_id).label("highest"),
            func.row_number()
            .over(partition_by=Reply.patient_id, order_by=newest_first)
            .label("recency"),
        )
        .where(Reply.patient_id.in_(ids), Reply.pain.is_not(None), Reply.received_at >= since)
        .subquery()
    )
    scores = dict.fromkeys(ids, Scores())
    for patient_id, latest, highest in session.execute(
        select(in_episode.c.patient_id, in_episode.c.pain, in_episode.c.highest).where(
            in_episode.c.recency == 1
        )
    ):
        scores[patient_id] = Scores(latest, highest)
    return scores
