"""Outcomes of episodes of care, per clinician or office, for a period.

An episode belongs to the period its first visit falls in, and to that visit's
clinician and office. For each group: patients, the response rate (check-ins sent
that got an answer), the mean change in pain (first score less the last, so a fall in
pain is a positive change) and in the PSFS mean (last less first), the share of
patients whose change reaches the minimal clinically important difference
(`followup.care.measures`: 2 points each), and adherence (exercise reminders
followed by a DONE). A change needs two measurements; patients without are counted
as patients, not in the means. Here each episode's outcome is computed;
`followup.care.outcome_snapshot` stores them all and sums a period's up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from followup.care.adherence import followed_by_done, reminder_sent
from followup.care.measures import TEMPLATE as MEASURES_TEMPLATE
from followup.models.care import Office, Visit
from followup.models.outbox import Message, MessageStatus
from followup.models.programs import MeasureResponse
from followup.models.replies import Reply

CHECK_INS = ("warning-signs", "progress", MEASURES_TEMPLATE)
GROUPINGS = ("clinician", "office")
ALL = "All"


@dataclass(frozen=True)
class EpisodeOutcome:
    episode_id: int
    patient_id: int
    first_visit_at: datetime
    clinician: str
    office: str
    pain_change: float | None
    psfs_change: float | None
    global_change: int | None
    check_ins: int
    answered: int
    reminders: int
    followed: int


def episode_outcomes(session: Session, *, start: datetime, end: datetime) -> list[EpisodeOutcome]:
    """Every episode whose first live visit is in [start, end), counted in SQL."""
    chosen = session.execute(_first_visits(start, end)).all()
    if not chosen:
        return []
    # Episodes with a live visit in the period: the chosen ones and a few more (whose
    # first visit came before), cheaper to find than the first visits again.
    ids = select(Visit.episode_id).where(
        Visit.cancelled_at.is_(None), Visit.visited_at >= start, Visit.visited_at < end
    )
    pains = _pain_changes(session, ids)
    forms: dict[int, list[MeasureResponse]] = defaultdict(list)
    for response in session.scalars(
        select(MeasureResponse)
        .where(MeasureResponse.episode_id.in_(ids))
        .order_by(MeasureResponse.submitted_at)
    ):
        forms[response.episode_id].append(response)
    counts = _message_counts(session, ids)
    labels = {office: Office(office).label for office in {row.office for row in chosen}}
    outcomes = []
    for episode_id, patient_id, first_visit_at, clinician, office in chosen:
        psfs = forms[episode_id]
        sent, answered, reminders, done = counts.get(episode_id, (0, 0, 0, 0))
        outcomes.append(
            EpisodeOutcome(
                episode_id=episode_id,
                patient_id=patient_id,
                first_visit_at=first_visit_at,
                clinician=clinician,
                office=labels[office],
                pain_change=pains.get(episode_id),
                psfs_change=psfs[-1].psfs_mean - psfs[0].psfs_mean if len(psfs) > 1 else None,
                global_change=next(
                    (r.global_change for r in psfs if r.global_change is not None), None
                ),
                check_ins=sent,
                answered=answered,
                reminders=reminders,
                followed=done,
            )
        )
    return outcomes


def _first_visits(start: datetime, end: datetime) -> Select[int, int, datetime, str, str]:
    """Each episode's first live visit (by time, then id), when it is in [start, end)."""
    other = aliased(Visit)
    earlier = select(other.id).where(
        other.episode_id == Visit.episode_id,
        other.cancelled_at.is_(None),
        or_(
            other.visited_at < Visit.visited_at,
            and_(other.visited_at == Visit.visited_at, other.id < Visit.id),
        ),
    )
    return (
        select(Visit.episode_id, Visit.patient_id, Visit.visited_at, Visit.clinician, Visit.office)
        .where(
            Visit.cancelled_at.is_(None),
            Visit.visited_at >= start,
            Visit.visited_at < end,
            ~earlier.exists(),
        )
        .order_by(Visit.visited_at, Visit.id)
    )


def _pain_changes(session: Session, ids: Select[int]) -> dict[int, float]:
    """First pain score less the last (by time received), per episode with two or more."""
    ranked = (
        select(
            Visit.episode_id,
            Reply.pain,
            func.row_number()
            .over(partition_by=Visit.episode_id, order_by=(Reply.received_at, Reply.id))
            .label("first"),
            func.row_number()
            .over(
                partition_by=Visit.episode_id,
                order_by=(Reply.received_at.desc(), Reply.id.desc()),
            )
            .label("last"),
        )
        .join(Visit, Reply.visit_id == Visit.id)
        .where(Visit.episode_id.in_(ids), Reply.pain.is_not(None))
        .subquery()
    )
    changes: dict[int, float] = defaultdict(float)
    for episode_id, pain, first in session.execute(
        select(ranked.c.episode_id, ranked.c.pain, ranked.c.first).where(
            or_(ranked.c.first == 1, ranked.c.last == 1), ranked.c.first != ranked.c.last
        )
    ):
        changes[episode_id] += pain if first == 1 else -pain
    return dict(changes)


def _message_counts(session: Session, ids: Select[int]) -> dict[int, tuple[int, ...]]:
    """Per episode, in one pass over its messages: check-ins sent, those answered (a
    reply or a form), programme reminders sent and those followed by a DONE."""
    check_in = and_(
        Message.template.in_(CHECK_INS),
        Message.status.in_((MessageStatus.SENT, MessageStatus.DELIVERED)),
    )
    answered = or_(
        select(Reply.id).where(Reply.message_id == Message.id).exists(),
        select(MeasureResponse.id).where(MeasureResponse.message_id == Message.id).exists(),
    )
    reminder = reminder_sent()
    counted = (check_in, and_(check_in, answered), reminder, and_(reminder, followed_by_done()))
    rows = session.execute(
        select(Message.episode_id, *(func.sum(case((rule, 1), else_=0)) for rule in counted))
        .where(Message.episode_id.in_(ids), or_(check_in, reminder))
        .group_by(Message.episode_id)
    )
    return {episode_id: tuple(counts) for episode_id, *counts in rows}


@dataclass(frozen=True)
class OutcomeSummary:
    group: str
    patients: int
    response_rate: float | None
    pain_change: float | None
    pain_measured: int
    pain_mcid_share: float | None
    psfs_change: float | None
    psfs_measured: int
    psfs_mcid_share: float | None
    adherence: float | None
