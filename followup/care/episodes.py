"""Episodes of care: a patient's visits share one series of plan messages.

A visit joins the patient's latest episode unless a discharge closed it or the visit
comes more than `episode_gap_days` after the episode's last visit; then it opens a new
one. The series follows the episode's latest visit (its anchor): when a visit joins,
the steps not yet sent move to the new anchor, steps the episode never had are added
(a tag may bring an optional step), and nothing sent or ended is planned again: no
second welcome. The outbox holds one row per (episode, step, channel), and the
patient's row lock makes two visits recorded at once take turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ARRAY, CursorResult, Row, bindparam, func, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from followup.care.plans import (
    care_consents,
    insert_care_messages,
    load_plan,
    resolve_channel,
    step_times,
)
from followup.config import Settings
from followup.db import on_postgresql
from followup.models.base import Channel
from followup.models.care import Episode, Patient, Visit
from followup.models.outbox import MESSAGES, PENDING_STATUSES, Message, MessageStatus, Purpose


@dataclass(frozen=True)
class SeriesChange:
    added: int  # steps newly planned, to be tried when due
    moved: int  # pending steps that now follow the latest visit
    # Steps whose expiry had passed before they were planned (a visit recorded late):
    # written straight as skipped, with the reason, and never tried.
    expired: int = 0
    # Of the `added`: on a channel the patient has no consent for, never asked or
    # opted out. They go only if the patient consents before they are due.
    unconsented: int = 0
    said_no: int = 0


def episode_for_visit(
    session: Session, *, patient: Patient, visited_at: datetime, settings: Settings
) -> Episode:
    """The episode a new visit at `visited_at` joins, opened if need be."""
    latest = session.scalars(
        select(Episode)
        .where(Episode.patient_id == patient.id)
        .order_by(Episode.opened_at.desc(), Episode.id.desc())
        .limit(1)
    ).first()
    gap = timedelta(days=settings.episode_gap_days)
    if latest is not None and latest.closed_at is None:
        visits = live_visits(session, latest.id)
        last = visits[-1].visited_at if visits else latest.opened_at
        if visited_at - last <= gap:
            return latest
        close_episode(
            latest, at=last + gap, reason=f"no visit for {settings.episode_gap_days} days"
        )
    episode = Episode(patient_id=patient.id, opened_at=visited_at)
    session.add(episode)
    session.flush()
    return episode


def close_episode(episode: Episode, *, at: datetime, reason: str) -> None:
    """End the episode: the patient's next visit opens a new one."""
    episode.closed_at = at
    episode.close_reason = reason[:200]


def live_visits(session: Session, episode_id: int) -> list[Visit]:
    """The episode's visits that were not cancelled, earliest first."""
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.episode_id == episode_id, Visit.cancelled_at.is_(None))
            .order_by(Visit.visited_at, Visit.id)
        )
    )


@dataclass(frozen=True)
class SeriesVisit:
    """What an episode's series needs of one of its live visits."""

    id: int
    visited_at: datetime
    next_appointment_at: datetime | None
    plan: str
    tags: str


@dataclass
class SeriesWork:
    """What bringing an episode's series in line writes: outbox rows to add, and moves
    of pending rows (keys of `MOVE`)."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)


# Conditional: a row a worker claimed meanwhile is left to the worker.
MOVE = (
    update(Message)
    .where(
        Message.id == bindparam("message_id"),
        # Not `in_`: an executemany takes no expanding list.
        or_(*(Message.status == status for status in PENDING_STATUSES)),
        or_(
            Message.visit_id != bindparam("anchor_id"),
            Message.due_at != bindparam("new_due"),
            Message.expires_at != bindparam("new_expires"),
        ),
    )
    .values(
        status=MessageStatus.SCHEDULED,
        visit_id=bindparam("anchor_id"),
        due_at=bindparam("new_due"),
        expires_at=bindparam("new_expires"),
        updated_at=bindparam("moved_at"),
    )
)
# `MOVE` on PostgreSQL: once over the rows as arrays, where an executemany is a round
# trip a row.
_TIME = MESSAGES.c.due_at.type.compile(dialect=postgresql.dialect())
MOVE_ARRAYS = text(
    "UPDATE messages SET status = :scheduled, visit_id = m.anchor_id, due_at = m.new_due,"
    " expires_at = m.new_expires, updated_at = m.moved_at"
    " FROM unnest(CAST(:message_id AS INTEGER[]), CAST(:anchor_id AS INTEGER[]),"
    f" CAST(:new_due AS {_TIME}[]), CAST(:new_expires AS {_TIME}[]),"
    f" CAST(:moved_at AS {_TIME}[])) AS m(message_id, anchor_id, new_due, new_expires, moved_at)"
    " WHERE messages.id = m.message_id AND messages.status IN (:scheduled, :queued)"
    " AND (messages.visit_id != m.anchor_id OR messages.due_at != m.new_due"
    " OR messages.expires_at != m.new_expires)"
).bindparams(
    *(
        bindparam(name, type_=ARRAY(MESSAGES.c.due_at.type))
        for name in ("new_due", "new_expires", "moved_at")
    )
)
# The outbox columns `series_work` reads of an episode's existing rows.
SERIES_COLUMNS = (
    Message.id,
    Message.episode_id,
    Message.step,
    Message.channel,
    Message.status,
    Message.visit_id,
    Message.due_at,
    Message.expires_at,
)


def plan_series(
    session: Session,
    *,
    episode: Episode,
    settings: Settings,
    now: datetime,
    skip_expired: bool = False,
) -> SeriesChange:
    """Bring the episode's series in line with its visits (at least one, not cancelled):
    add the plan steps it never had, and move its pending steps to the latest visit.
    With `skip_expired` (an import of past visits), a new step whose expiry is already
    past is written as skipped with its reason, rather than left for dispatch to skip."""
    visits = [series_visit(visit) for visit in live_visits(session, episode.id)]
    patient = session.get_one(Patient, episode.patient_id)
    existing = session.execute(
        select(*SERIES_COLUMNS).where(Message.episode_id == episode.id)
    ).all()
    consents = care_consents(session, patient.id)
    work = series_work(
        episode_id=episode.id,
        visits=visits,
        patient=patient,
        existing=existing,
        consents=consents,
        settings=settings,
        now=now,
        skip_expired=skip_expired,
    )
    inserted, moved = write_series(session, work)
    return series_change([(row.channel, row.status) for row in inserted], moved, consents)


def series_visit(visit: Any) -> SeriesVisit:
    """A visit, or a row of its columns, as its series needs it."""
    return SeriesVisit(
        visit.id, visit.visited_at, visit.next_appointment_at, visit.plan, visit.tags
    )


def series_work(
    *,
    episode_id: int,
    visits: Sequence[SeriesVisit],
    patient: Patient,
    existing: Sequence[Any],
    consents: dict[Channel, bool],
    settings: Settings,
    now: datetime,
    skip_expired: bool,
) -> SeriesWork:
    """The episode's series in line with its live `visits` (earliest first), given its
    `existing` outbox rows (`SERIES_COLUMNS`): computed, not written."""
    anchor = visits[-1]
    times = (anchor.visited_at, anchor.next_appointment_at)
    plan = load_plan(settings.plans_dir, anchor.plan)
    tags = {tag for visit in visits for tag in visit.tags.split(",") if tag}
    had = {row.step for row in existing}
    work = SeriesWork()
    for step in plan.steps:
        if step.key in had or not step.applies(tags):
            continue
        channel, fallback = resolve_channel(step.channel, patient, consents)
        due_at, expires_at = step_times(step, times, patient, channel, settings)
        late = skip_expired and expires_at <= now
        work.inserts.append(
            {
                "patient_id": patient.id,
                "visit_id": anchor.id,
                "episode_id": episode_id,
                "step": step.key,
                "channel": channel.value,
                "purpose": Purpose.CARE.value,
                "template": step.template,
                "email_fallback": fallback,
                "status": (MessageStatus.SKIPPED if late else MessageStatus.SCHEDULED).value,
                "last_error": expired_before_planned(expires_at) if late else None,
                "due_at": due_at,
                "expires_at": expires_at,
                "attempts": 0,
                "updated_at": now,
                "created_at": now,
            }
        )
    steps = {step.key: step for step in plan.steps}
    for row in existing:
        planned = steps.get(row.step or "")
        if planned is None or row.status not in PENDING_STATUSES:
            continue
        due_at, expires_at = step_times(planned, times, patient, Channel(row.channel), settings)
        if (row.visit_id, row.due_at, row.expires_at) != (anchor.id, due_at, expires_at):
            work.moves.append(
                {
                    "message_id": row.id,
                    "anchor_id": anchor.id,
                    "new_due": due_at,
                    "new_expires": expires_at,
                    "moved_at": now,
                }
            )
    return work


def write_series(session: Session, work: SeriesWork) -> tuple[list[Row[Any]], int]:
    """Write `work`: the outbox rows inserted (`insert_care_messages`), and how many
    pending rows moved."""
    inserted = insert_care_messages(session, work.inserts)
    if not work.moves:
        return inserted, 0
    statement: Executable
    if on_postgresql(session):
        columns = {name: [move[name] for move in work.moves] for name in work.moves[0]}
        scheduled, queued = PENDING_STATUSES
        statement, rows = MOVE_ARRAYS, [{**columns, "scheduled": scheduled, "queued": queued}]
    else:
        statement, rows = MOVE, work.moves
    result = session.connection().execute(statement, rows)
    return inserted, cast("CursorResult[Any]", result).rowcount


def series_change(
    inserted: Sequence[tuple[str, str]], moved: int, consents: dict[Channel, bool]
) -> SeriesChange:
    """The change of a series that got the plan steps `inserted` (channel, status)."""
    fresh = [Channel(channel) for channel, status in inserted if status != MessageStatus.SKIPPED]
    return SeriesChange(
        added=len(fresh),
        moved=moved,
        expired=len(inserted) - len(fresh),
        unconsented=sum(1 for channel in fresh if channel not in consents),
        said_no=sum(1 for channel in fresh if consents.get(channel) is False),
    )


def expired_before_planned(expires_at: datetime) -> str:
    """The reason a step planned after its expiry is skipped at once."""
    return (
        f"expired at {expires_at:%Y-%m-%d %H:%M} UTC before it was planned "
        "(the visit was recorded after the step's window)"
    )


def episode_starts(
    session: Session, patient_ids: list[int], *, settings: Settings, now: datetime
) -> dict[int, datetime]:
    """When each patient's current episode began: its first visit, while the episode
    is open and its last visit within the gap of `now`; otherwise `now` less the gap."""
    gap = timedelta(days=settings.episode_gap_days)
    starts = {patient_id: now - gap for patient_id in patient_ids}
    for patient_id, first, last in session.execute(
        select(Visit.patient_id, func.min(Visit.visited_at), func.max(Visit.visited_at))
        .join(Episode, Visit.episode_id == Episode.id)
        .where(
            Visit.patient_id.in_(patient_ids),
            Visit.cancelled_at.is_(None),
            Visit.visited_at <= now,
            Episode.closed_at.is_(None),
        )
        .group_by(Visit.patient_id, Visit.episode_id)
    ):
        if now - last <= gap:
            starts[patient_id] = first
    return starts
