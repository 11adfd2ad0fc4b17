"""A batch of a visits import written set-based: a query per table to read, a statement
per kind of change to write, whatever the number of rows.

It does what `followup.care.visits.record_visit` does row by row (the same pure
functions decide episodes, series and reminders) for the common shapes: a visit not
yet recorded, and one recorded again unchanged. The rare ones (a patient twice in the
batch, a discharged patient, exercises assigned, a recorded visit that changed) are
handed back for `record_visit`. The caller holds the batch's patient locks.
"""

from __future__ import annotations

import inspect
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from followup.care.appointments import (
    STEP_PREFIX,
    appointment_step,
    reminder_row,
)
from followup.care.episodes import (
    SERIES_COLUMNS,
    SeriesVisit,
    SeriesWork,
    series_change,
    series_visit,
    series_work,
    write_series,
)
from followup.care.import_report import VisitsReport
from followup.care.plans import load_plan
from followup.care.programs import Assigned
from followup.care.visits import parse_tags, record_visit
from followup.config import Settings
from followup.db import insert_rows
from followup.models.base import Channel
from followup.models.care import Consent, Episode, Office, Patient, Visit
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus, Purpose

# Told a row's line, around the work for that row (reports an error at its line).
AtLine = Callable[[int], AbstractContextManager[None]]
CLOSE = (
    update(Episode)
    .where(Episode.id == bindparam("episode_id"))
    .values(closed_at=bindparam("closed"), close_reason=bindparam("reason"))
)
VISIT_COLUMNS = (
    Visit.id,
    Visit.ref,
    Visit.patient_id,
    Visit.episode_id,
    Visit.office,
    Visit.clinician,
    Visit.tags,
    Visit.visited_at,
    Visit.next_appointment_at,
    Visit.plan,
    Visit.cancelled_at,
)


@dataclass(frozen=True)
class VisitRow:
    line: int
    ref: str
    patient_id: int
    office: Office
    clinician: str
    visited_at: datetime
    tags: str
    plan_name: str | None
    next_appointment_at: datetime | None
    # The home programme assigned at the visit; None (an empty cell) keeps the current one.
    exercises: list[Assigned] | None

    def details(self) -> dict[str, Any]:
        """The keywords of `record_visit` the row gives."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in _DETAILS}

    def same_as(self, recorded: Any) -> bool:
        """True if recording the row again changes nothing of the `recorded` visit."""
        return (
            recorded.patient_id == self.patient_id
            and recorded.cancelled_at is None
            and (recorded.office, recorded.clinician, recorded.tags)
            == (self.office.value, self.clinician.strip(), parse_tags(self.tags))
            and recorded.visited_at == self.visited_at
            and recorded.next_appointment_at == self.next_appointment_at
        )


_DETAILS = set(inspect.signature(record_visit).parameters)


@dataclass
class _Planned:
    """One row's visit while the batch is planned."""

    row: VisitRow
    patient: Patient
    visit: SeriesVisit | None  # None until a new visit is inserted
    episode_id: int | None  # None until a new episode is inserted
    created: bool
    work: SeriesWork | None = None
    reminder: str | None = None  # the step of its appointment reminder


def record_batch(
    session: Session,
    rows: Sequence[VisitRow],
    patients: dict[int, Patient],
    *,
    settings: Settings,
    now: datetime,
    report: VisitsReport,
    at_line: AtLine,
) -> list[VisitRow]:
    """Record the batch's common rows; returns the others, for `record_visit`."""
    recorded = {
        visit.ref: visit
        for visit in session.execute(
            select(*VISIT_COLUMNS).where(Visit.ref.in_([row.ref for row in rows]))
        )
    }
    twice = Counter(row.patient_id for row in rows)
    common: list[VisitRow] = []
    rare: list[VisitRow] = []
    for row in rows:
        known = recorded.get(row.ref)
        simple = (
            twice[row.patient_id] == 1
            and patients[row.patient_id].discharged_at is None
            and row.exercises is None
            and (known is None or row.same_as(known))
        )
        (common if simple else rare).append(row)
    if common:
        _record(session, common, recorded, patients, settings, now, report, at_line)
    return rare


def _record(
    session: Session,
    rows: list[VisitRow],
    recorded: dict[str, Any],
    patients: dict[int, Patient],
    settings: Settings,
    now: datetime,
    report: VisitsReport,
    at_line: AtLine,
) -> None:
    new_ids = [row.patient_id for row in rows if row.ref not in recorded]
    latest: dict[int, Any] = {}
    for episode in session.execute(
        select(Episode.id, Episode.patient_id, Episode.opened_at, Episode.closed_at)
        .where(Episode.patient_id.in_(new_ids))
        .order_by(Episode.opened_at, Episode.id)
    ):
        latest[episode.patient_id] = episode
    wanted = {e.id for e in latest.values() if e.closed_at is None}
    wanted |= {recorded[row.ref].episode_id for row in rows if row.ref in recorded}
    visits: dict[int, list[SeriesVisit]] = defaultdict(list)
    for visit in session.execute(
        select(*VISIT_COLUMNS)
        .where(Visit.episode_id.in_(wanted), Visit.cancelled_at.is_(None))
        .order_by(Visit.visited_at, Visit.id)
    ):
        visits[visit.episode_id].append(series_visit(visit))
    closing: list[dict[str, Any]] = []
    planned = [_place(row, recorded, latest, visits, patients, settings, closing) for row in rows]
    if closing:
        session.connection().execute(CLOSE, closing)
    _insert_visits(session, planned, settings)
    existing: dict[int, list[Any]] = defaultdict(list)
    for message in session.execute(select(*SERIES_COLUMNS).where(Message.episode_id.in_(wanted))):
        existing[message.episode_id].append(message)
    consents: dict[int, dict[Channel, bool]] = defaultdict(dict)
    for patient_id, channel, granted in session.execute(
        select(Consent.patient_id, Consent.channel, Consent.granted).where(
            Consent.patient_id.in_([row.patient_id for row in rows]),
            Consent.purpose == Purpose.CARE.value,
        )
    ):
        consents[patient_id][Channel(channel)] = granted
    work = SeriesWork()
    for item in planned:
        assert item.episode_id is not None and item.visit is not None
        episode_visits = sorted(
            [*visits[item.episode_id], *([item.visit] if item.created else [])],
            key=lambda visit: (visit.visited_at, visit.id),
        )
        with at_line(item.row.line):
            item.work = series_work(
                episode_id=item.episode_id,
                visits=episode_visits,
                patient=item.patient,
                existing=existing[item.episode_id],
                consents=consents[item.patient.id],
                settings=settings,
                now=now,
                skip_expired=True,
            )
        work.inserts += item.work.inserts
        work.moves += item.work.moves
        booked = item.row.next_appointment_at
        if booked is None:
            continue
        reminder = reminder_row(
            item.patient,
            consents[item.patient.id],
            visit_id=item.visit.id,
            episode_id=item.episode_id,
            booked=booked,
            settings=settings,
            now=now,
        )
        if reminder is not None:
            item.reminder = reminder["step"]
            work.inserts.append(reminder)
    _cancel_stale_reminders(session, [item for item in planned if not item.created], now)
    inserted, moved = write_series(session, work)
    by_episode: dict[int, list[Any]] = defaultdict(list)
    for inserted_row in inserted:
        by_episode[inserted_row.episode_id].append(inserted_row)
    for item in planned:
        assert item.episode_id is not None
        steps = by_episode[item.episode_id]
        plan_steps = [(m.channel, m.status) for m in steps if m.step != item.reminder]
        change = series_change(plan_steps, 0, consents[item.patient.id])
        report.count(item.created, len(steps) - len(plan_steps), change)
    report.moved += moved


def _place(
    row: VisitRow,
    recorded: dict[str, Any],
    latest: dict[int, Any],
    visits: dict[int, list[SeriesVisit]],
    patients: dict[int, Patient],
    settings: Settings,
    closing: list[dict[str, Any]],
) -> _Planned:
    """The row's visit in its episode: the recorded visit's, or the one a new visit
    joins (`followup.care.episodes.episode_for_visit`); an episode gone quiet goes to
    `closing` (keys of `CLOSE`)."""
    patient = patients[row.patient_id]
    known = recorded.get(row.ref)
    if known is not None:
        return _Planned(row, patient, series_visit(known), known.episode_id, created=False)
    episode = latest.get(row.patient_id)
    gap = timedelta(days=settings.episode_gap_days)
    if episode is not None and episode.closed_at is None:
        live = visits[episode.id]
        last = live[-1].visited_at if live else episode.opened_at
        if row.visited_at - last <= gap:
            return _Planned(row, patient, None, episode.id, created=True)
        reason = f"no visit for {settings.episode_gap_days} days"[:200]
        closing.append({"episode_id": episode.id, "closed": last + gap, "reason": reason})
    return _Planned(row, patient, None, None, created=True)


def _insert_visits(session: Session, planned: list[_Planned], settings: Settings) -> None:
    """Insert the episodes the new visits open, then the new visits (ids in order)."""
    opening = [item for item in planned if item.created and item.episode_id is None]
    episodes = insert_rows(
        session,
        Episode,
        [{"patient_id": item.row.patient_id, "opened_at": item.row.visited_at} for item in opening],
        returning=("patient_id", "id"),
    )
    opened = {
        row.patient_id: row.id for row in episodes
    }  # one new visit a patient in a batch: one episode each
    for item in opening:
        item.episode_id = opened[item.row.patient_id]
    new = [item for item in planned if item.created]
    values: list[dict[str, Any]] = [
        {
            "ref": item.row.ref,
            "patient_id": item.row.patient_id,
            "episode_id": item.episode_id,
            "office": item.row.office.value,
            "clinician": item.row.clinician.strip(),
            "tags": parse_tags(item.row.tags),
            "visited_at": item.row.visited_at,
            "plan": load_plan(settings.plans_dir, item.row.plan_name or settings.default_plan).name,
            "next_appointment_at": item.row.next_appointment_at,
        }
        for item in new
    ]
    ids = {row.ref: row.id for row in insert_rows(session, Visit, values, returning=("ref", "id"))}
    for item, fields_ in zip(new, values, strict=True):
        item.visit = SeriesVisit(
            ids[item.row.ref],
            item.row.visited_at,
            item.row.next_appointment_at,
            fields_["plan"],
            fields_["tags"],
        )


def _cancel_stale_reminders(session: Session, again: list[_Planned], now: datetime) -> None:
    """`cancel_appointment_reminders` for the visits recorded again, at once: their
    pending reminders of an appointment they no longer have."""
    if not again:
        return
    keep = [
        appointment_step(item.visit.id, item.row.next_appointment_at)
        for item in again
        if item.visit is not None and item.row.next_appointment_at is not None
    ]
    session.connection().execute(
        update(Message)
        .where(
            Message.visit_id.in_([item.visit.id for item in again if item.visit is not None]),
            Message.step.startswith(STEP_PREFIX),
            Message.status.in_(PENDING_STATUSES),
            Message.step.not_in(keep),
        )
        .values(
            status=MessageStatus.CANCELLED,
            last_error="appointment moved or cancelled",
            updated_at=now,
        )
    )
