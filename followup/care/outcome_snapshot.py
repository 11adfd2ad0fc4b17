"""Outcomes kept at hand: every episode's outcome, computed together and stored.

Counting outcomes reads every message, reply and form of the episodes: seconds at a
clinic's scale. Beat takes a snapshot of all of them every `REFRESH_EVERY` (staff may
ask for one, and the first look takes the first), and a period's summaries are counted
in SQL from the stored rows, saying when they were taken. A snapshot replaces the last
in one transaction (writing only the episodes that changed): a reader sees the old one
or the new one, never a mix.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, distinct, func, literal, select, text
from sqlalchemy.orm import Session

from followup.care.measures import PAIN_MCID, PSFS_MCID
from followup.care.outcomes import ALL, GROUPINGS, EpisodeOutcome, OutcomeSummary, episode_outcomes
from followup.db import insert_rows, on_postgresql
from followup.models.base import utcnow
from followup.models.outcomes import OutcomeSnapshot, StoredOutcome

REFRESH_EVERY = timedelta(minutes=15)
# A snapshot older than this means beat's refresh stopped: the page says so.
STALE_AFTER = 2 * REFRESH_EVERY
SNAPSHOT_ID = 1
_EVER = (datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
_COLUMNS = tuple(getattr(StoredOutcome, f.name) for f in fields(EpisodeOutcome))
_CHUNK = 5000  # episode ids a statement (a statement takes at most 65,535 parameters)


def take_snapshot(session: Session) -> int:
    """Compute every episode's outcome and store them in place of the last snapshot;
    returns how many episodes it holds."""
    if on_postgresql(session):
        # One refresh at a time (beat's and a requested one); readers go on meanwhile.
        session.execute(text("LOCK TABLE outcome_snapshots IN EXCLUSIVE MODE"))
    started, taken_at = time.monotonic(), utcnow()
    outcomes = episode_outcomes(session, start=_EVER[0], end=_EVER[1])
    _replace_changed(session, outcomes)
    snapshot = session.get(OutcomeSnapshot, SNAPSHOT_ID) or OutcomeSnapshot(id=SNAPSHOT_ID)
    snapshot.taken_at, snapshot.episodes = taken_at, len(outcomes)
    snapshot.took_seconds = round(time.monotonic() - started, 3)
    session.add(snapshot)
    session.flush()
    return len(outcomes)


def _replace_changed(session: Session, outcomes: list[EpisodeOutcome]) -> None:
    """Store `outcomes` in place of the stored ones, writing only the episodes whose
    outcome changed (most have not since the last snapshot: a table rewritten whole
    every refresh would leave its every row dead for the vacuum)."""
    stored = {row[0]: EpisodeOutcome(*row) for row in session.execute(select(*_COLUMNS))}
    fresh = {outcome.episode_id: outcome for outcome in outcomes}
    changed = [outcome for outcome in outcomes if stored.get(outcome.episode_id) != outcome]
    stale = [id_ for id_ in stored if id_ not in fresh] + [o.episode_id for o in changed]
    for start in range(0, len(stale), _CHUNK):
        chunk = stale[start : start + _CHUNK]
        session.execute(delete(StoredOutcome).where(StoredOutcome.episode_id.in_(chunk)))
    insert_rows(session, StoredOutcome, [asdict(outcome) for outcome in changed])


def taken_at(session: Session) -> datetime | None:
    """When the latest snapshot was taken; None if none ever was."""
    return session.scalar(select(OutcomeSnapshot.taken_at).where(OutcomeSnapshot.id == SNAPSHOT_ID))


def is_stale(taken: datetime, now: datetime) -> bool:
    return now - taken > STALE_AFTER


def summarize(session: Session, *, start: datetime, end: datetime, by: str) -> list[OutcomeSummary]:
    """One summary per clinician or office (by name) of the stored episodes whose
    first visit is in [start, end), then one for all; none when there are none."""
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}")
    group = StoredOutcome.clinician if by == "clinician" else StoredOutcome.office
    stored = StoredOutcome
    figures = (
        func.count(distinct(stored.patient_id)),
        func.sum(stored.answered),
        func.sum(stored.check_ins),
        func.avg(stored.pain_change),
        func.count(stored.pain_change),
        func.sum(case((stored.pain_change >= PAIN_MCID, 1), else_=0)),
        func.avg(stored.psfs_change),
        func.count(stored.psfs_change),
        func.sum(case((stored.psfs_change >= PSFS_MCID, 1), else_=0)),
        func.sum(stored.followed),
        func.sum(stored.reminders),
    )
    in_period = (stored.first_visit_at >= start, stored.first_visit_at < end)
    groups = session.execute(select(group, *figures).where(*in_period).group_by(group)).all()
    if not groups:
        return []
    everyone = session.execute(select(literal(ALL), *figures).where(*in_period)).one()
    return [_summary(*row) for row in sorted(groups, key=lambda row: row[0])] + [
        _summary(*everyone)
    ]


def _summary(
    name: str,
    patients: int,
    answered: Any,
    check_ins: Any,
    pain_mean: Any,
    pain_measured: int,
    pain_reached: Any,
    psfs_mean: Any,
    psfs_measured: int,
    psfs_reached: Any,
    followed: Any,
    reminders: Any,
) -> OutcomeSummary:
    return OutcomeSummary(
        group=name,
        patients=patients,
        response_rate=_share(answered, check_ins),
        pain_change=_rounded(pain_mean),
        pain_measured=pain_measured,
        pain_mcid_share=_share(pain_reached, pain_measured),
        psfs_change=_rounded(psfs_mean),
        psfs_measured=psfs_measured,
        psfs_mcid_share=_share(psfs_reached, psfs_measured),
        adherence=_share(followed, reminders),
    )


def _rounded(mean: Any) -> float | None:
    return None if mean is None else round(float(mean), 2)


def _share(part: Any, whole: Any) -> float | None:
    return round(int(part or 0) / int(whole), 3) if whole else None
