"""Pain over time: a score that climbs, or a second 7 or more, needs a person.

`read_reply` reads one reply alone; this compares a new score with the patient's
earlier scores in the same episode of care (`followup.episodes`); a patient with no
open episode is read against `episode_gap_days` of replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.episodes import episode_starts
from followup.models import Reply

RISE = 3  # points above the previous score
HIGH = 7


def trend_reason(earlier: Sequence[int], score: int) -> str | None:
    """Why `score`, after the `earlier` scores (oldest first), needs staff; else None."""
    if earlier and score >= earlier[-1] + RISE:
        return f"pain rose from {earlier[-1]} to {score}"
    if score >= HIGH and any(previous >= HIGH for previous in earlier):
        return f"pain {score} again after an earlier {HIGH} or more"
    return None


def earlier_scores(
    session: Session, patient_ids: Iterable[int], *, settings: Settings, now: datetime
) -> dict[int, list[int]]:
    """Each patient's pain scores in the current episode, oldest first."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    starts = episode_starts(session, ids, settings=settings, now=now)
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
