"""Outcomes of episodes of care, per clinician or office, for a period.

An episode belongs to the period its first visit falls in, and to that visit's
clinician and office. For each group: patients, the response rate (check-ins sent
that got an answer), the mean change in pain (first score less the last, so a fall in
pain is a positive change) and in the PSFS mean (last less first), the share of
patients whose change reaches the minimal clinically important difference
(`followup.care.measures`: 2 points each), and adherence (exercise reminders
followed by a DONE). A change needs two measurements; patients without are counted
as patients, not in the means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import mean

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.adherence import adherence
from followup.care.measures import PAIN_MCID, PSFS_MCID
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
    """Every episode whose first live visit is in [start, end)."""
    first: dict[int, Visit] = {}
    for visit in session.scalars(
        select(Visit).where(Visit.cancelled_at.is_(None)).order_by(Visit.visited_at, Visit.id)
    ):
        first.setdefault(visit.episode_id, visit)
    chosen = {e: v for e, v in first.items() if start <= v.visited_at < end}
    if not chosen:
        return []
    ids = set(chosen)
    pains: dict[int, list[int]] = defaultdict(list)
    for episode_id, pain in session.execute(
        select(Visit.episode_id, Reply.pain)
        .join(Visit, Reply.visit_id == Visit.id)
        .where(Visit.episode_id.in_(ids), Reply.pain.is_not(None))
        .order_by(Reply.received_at)
    ):
        if pain is not None:
            pains[episode_id].append(pain)
    forms: dict[int, list[MeasureResponse]] = defaultdict(list)
    for response in session.scalars(
        select(MeasureResponse)
        .where(MeasureResponse.episode_id.in_(ids))
        .order_by(MeasureResponse.submitted_at)
    ):
        forms[response.episode_id].append(response)
    sent, answered = _check_ins(session, ids)
    followed = adherence(session, ids)
    outcomes = []
    for episode_id, visit in chosen.items():
        scores, psfs = pains[episode_id], forms[episode_id]
        done = followed.get(episode_id)
        outcomes.append(
            EpisodeOutcome(
                episode_id=episode_id,
                patient_id=visit.patient_id,
                clinician=visit.clinician,
                office=Office(visit.office).label,
                pain_change=float(scores[0] - scores[-1]) if len(scores) > 1 else None,
                psfs_change=psfs[-1].psfs_mean - psfs[0].psfs_mean if len(psfs) > 1 else None,
                global_change=next(
                    (r.global_change for r in psfs if r.global_change is not None), None
                ),
                check_ins=sent[episode_id],
                answered=answered[episode_id],
                reminders=done.reminders if done else 0,
                followed=done.followed if done else 0,
            )
        )
    return outcomes


def _check_ins(session: Session, ids: set[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Check-ins sent per episode, and those answered (a reply or a form)."""
    messages = session.execute(
        select(Message.id, Message.episode_id).where(
            Message.episode_id.in_(ids),
            Message.template.in_(CHECK_INS),
            Message.status.in_((MessageStatus.SENT, MessageStatus.DELIVERED)),
        )
    ).all()
    message_ids = [m.id for m in messages]
    answered_ids = set(
        session.scalars(select(Reply.message_id).where(Reply.message_id.in_(message_ids)))
    ) | set(
        session.scalars(
            select(MeasureResponse.message_id).where(MeasureResponse.message_id.in_(message_ids))
        )
    )
    sent: dict[int, int] = defaultdict(int)
    answered: dict[int, int] = defaultdict(int)
    for message_id, episode_id in messages:
        if episode_id is None:
            continue
        sent[episode_id] += 1
        answered[episode_id] += message_id in answered_ids
    return sent, answered


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


def summarize(outcomes: list[EpisodeOutcome], by: str) -> list[OutcomeSummary]:
    """One summary per clinician or office (by name), then one for all."""
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}")
    groups: dict[str, list[EpisodeOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.clinician if by == "clinician" else outcome.office].append(outcome)
    rows = [_summary(name, groups[name]) for name in sorted(groups)]
    return [*rows, _summary(ALL, outcomes)] if outcomes else rows


def _summary(name: str, outcomes: list[EpisodeOutcome]) -> OutcomeSummary:
    pain = [o.pain_change for o in outcomes if o.pain_change is not None]
    psfs = [o.psfs_change for o in outcomes if o.psfs_change is not None]
    sent = sum(o.check_ins for o in outcomes)
    reminders = sum(o.reminders for o in outcomes)
    return OutcomeSummary(
        group=name,
        patients=len({o.patient_id for o in outcomes}),
        response_rate=_share(sum(o.answered for o in outcomes), sent),
        pain_change=_mean(pain),
        pain_measured=len(pain),
        pain_mcid_share=_share(sum(c >= PAIN_MCID for c in pain), len(pain)),
        psfs_change=_mean(psfs),
        psfs_measured=len(psfs),
        psfs_mcid_share=_share(sum(c >= PSFS_MCID for c in psfs), len(psfs)),
        adherence=_share(sum(o.followed for o in outcomes), reminders),
    )


def _mean(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(mean(found), 2) if found else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None
