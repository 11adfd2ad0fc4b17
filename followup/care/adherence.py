"""Adherence: the programme reminders a patient was sent, and the DONEs that followed.

A reminder counts as followed when a DONE (by text or by one tap) is recorded within
`FOLLOWED_WITHIN` of it. A patient in an open episode with a programme whose last
`FOLLOWUP_NUDGE_AFTER_REMINDERS` reminders were all left without a DONE needs a nudge:
a worklist for the front desk or the therapist, never an on-call alert.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from followup.care.programs import PROGRAM_TEMPLATES
from followup.models.care import Episode, Patient
from followup.models.outbox import Message, MessageStatus
from followup.models.programs import ExerciseAssignment, ExerciseReport
from followup.sql_time import shifted

FOLLOWED_WITHIN = timedelta(hours=48)
SENT = (MessageStatus.SENT, MessageStatus.DELIVERED)
_WITHIN_MICROSECONDS = FOLLOWED_WITHIN // timedelta(microseconds=1)


@dataclass(frozen=True)
class EpisodeAdherence:
    episode_id: int
    patient_id: int
    reminders: int
    followed: int
    # Reminders since the last one followed by a DONE (0: the latest was followed).
    unanswered_in_a_row: int
    last_done: datetime | None


def adherence(session: Session, episode_ids: set[int]) -> dict[int, EpisodeAdherence]:
    """Each episode's programme reminders sent and followed by a DONE."""
    if not episode_ids:
        return {}
    sent = session.execute(
        select(Message.episode_id, Message.patient_id, Message.sent_at)
        .where(
            Message.episode_id.in_(episode_ids),
            Message.template.in_(PROGRAM_TEMPLATES),
            Message.status.in_(SENT),
            Message.sent_at.is_not(None),
        )
        .order_by(Message.sent_at)
    ).all()
    done: dict[int, list[datetime]] = defaultdict(list)
    for episode_id, recorded_at in session.execute(
        select(ExerciseReport.episode_id, ExerciseReport.recorded_at).where(
            ExerciseReport.episode_id.in_(episode_ids)
        )
    ):
        if episode_id is not None:
            done[episode_id].append(recorded_at)
    by_episode: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for episode_id, patient_id, sent_at in sent:
        if episode_id is not None and patient_id is not None and sent_at is not None:
            by_episode[episode_id].append((patient_id, sent_at))
    found = {}
    for episode_id, reminders in by_episode.items():
        followed = [
            any(at <= d <= at + FOLLOWED_WITHIN for d in done[episode_id]) for _, at in reminders
        ]
        in_a_row = 0
        for was_followed in reversed(followed):
            if was_followed:
                break
            in_a_row += 1
        found[episode_id] = EpisodeAdherence(
            episode_id,
            reminders[0][0],
            len(reminders),
            sum(followed),
            in_a_row,
            max(done[episode_id], default=None),
        )
    return found


def reminder_sent() -> ColumnElement[bool]:
    """A message that is a programme reminder `adherence` counts: sent, to a patient."""
    return and_(
        Message.template.in_(PROGRAM_TEMPLATES),
        Message.status.in_(SENT),
        Message.sent_at.is_not(None),
        Message.patient_id.is_not(None),
    )


def followed_by_done() -> ColumnElement[bool]:
    """A reminder followed by a DONE within `FOLLOWED_WITHIN`, as `adherence` reads it,
    for counting in SQL."""
    return (
        select(ExerciseReport.id)
        .where(
            ExerciseReport.episode_id == Message.episode_id,
            ExerciseReport.recorded_at >= Message.sent_at,
            ExerciseReport.recorded_at <= shifted(Message.sent_at, _WITHIN_MICROSECONDS),
        )
        .exists()
    )


@dataclass(frozen=True)
class Nudge:
    patient_ref: str
    first_name: str
    last_name: str
    reminders_without_done: int
    last_done: datetime | None


def needs_a_nudge(session: Session, *, after: int) -> list[Nudge]:
    """Patients in an open episode with a programme who left their last `after`
    programme reminders without a DONE, the longest silent first."""
    episodes = set(
        session.scalars(
            select(Episode.id)
            .join(ExerciseAssignment, ExerciseAssignment.episode_id == Episode.id)
            .join(Patient, Patient.id == Episode.patient_id)
            .where(Episode.closed_at.is_(None), Patient.discharged_at.is_(None))
        )
    )
    found = [a for a in adherence(session, episodes).values() if a.unanswered_in_a_row >= after]
    patients = {
        p.id: p
        for p in session.scalars(
            select(Patient).where(Patient.id.in_({a.patient_id for a in found}))
        )
    }
    nudges = [
        Nudge(
            patients[a.patient_id].ref,
            patients[a.patient_id].first_name,
            patients[a.patient_id].last_name,
            a.unanswered_in_a_row,
            a.last_done,
        )
        for a in found
    ]
    return sorted(nudges, key=lambda n: (-n.reminders_without_done, n.patient_ref))
