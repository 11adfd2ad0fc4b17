"""Pain over time: a score that climbs, or a second 7 or more, needs a person.

`read_reply` reads one reply alone; this compares a new score with the patient's
earlier scores in the same episode of care (`followup.care.episodes`); a patient with no
open episode is read against `episode_gap_days` of replies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ARRAY, Integer, bindparam, select, text
from sqlalchemy.orm import Session

from followup.care.episodes import episode_starts
from followup.config import Settings
from followup.db import on_postgresql
from followup.models.base import UTCDateTime
from followup.models.replies import Reply

RISE = 3  # points above the previous score
HIGH = 7
# Written once: at Twilio's rate, building a statement per batch shows.
IN_EPISODE = text(
    """
    SELECT r.patient_id, (array_agg(r.pain ORDER BY r.received_at DESC, r.id DESC))[1],
        max(r.pain)
    FROM replies AS r
    JOIN unnest(:ids, :starts) AS e(patient_id, since)
        ON r.patient_id = e.patient_id AND r.received_at >= e.since
    WHERE r.pain IS NOT NULL
    GROUP BY r.patient_id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Integer())), bindparam("starts", type_=ARRAY(UTCDateTime()))
)


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


def earlier_scores(
    session: Session, patient_ids: Iterable[int], *, settings: Settings, now: datetime
) -> dict[int, Scores]:
    """Each patient's latest and highest pain scores in the current episode.

    PostgreSQL reduces them, each patient against their own episode start, in one
    statement written once: a patient who answered every day for months costs one
    row, and the statement costs no building per batch of replies. SQLite reads the
    scores since the earliest start and reduces them here."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    starts = episode_starts(session, ids, settings=settings, now=now)
    scores = dict.fromkeys(ids, Scores())
    if on_postgresql(session):
        found = session.connection().execute(
            IN_EPISODE, {"ids": ids, "starts": [starts[pid] for pid in ids]}
        )
        for patient_id, latest, highest in found:
            scores[patient_id] = Scores(latest, highest)
        return scores
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
            scores[row.patient_id] = scores[row.patient_id].then(row.pain)
    return scores
