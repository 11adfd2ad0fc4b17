"""Frequency caps: a patient-level budget per channel, in the patient's local calendar.

Plan steps, campaigns and staff resends share it (defaults: one SMS a day, three in
any seven consecutive days; email uncapped); alerts to staff are not patient messages
and answers to a patient's reply are not outbox rows, so neither counts nor waits. A
message the budget has no room for moves to the next local day with room, at the same
local time (inside the SMS sending window), or is skipped with the reason when that
comes after its expiry. Days are the patient's calendar days, so a daylight-saving
change neither splits nor merges one.

Who goes first: a next-appointment reminder (`followup.care.appointments`), then the
plan's routine messages, then campaigns. A reminder is useful on one day only, so the
cap never holds it back: it counts in the budget, and routine plan messages leave its
room to it as campaigns leave theirs to plan messages (a routine text that would take
the last room of the week before a reminder waits, or is skipped, with the reason).
Only when the week was spent before the appointment was booked does a reminder go over
the cap. Consent and quiet hours are not the cap's: a reminder keeps to both.

At send time the dispatcher asks `FrequencyCaps.hold` under the patients' row locks,
so two workers never both spend the last unit of a day; `followup schedule` shows the
same rule applied ahead of time (`project`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, select, text
from sqlalchemy.orm import Session

from followup.care.appointments import STEP_PREFIX as REMINDER_PREFIX
from followup.config import Settings
from followup.db import dialect_name, on_postgresql, per_dialect
from followup.delivery.eligibility import Defer, Skip
from followup.delivery.repeats import REACHED
from followup.models.base import Channel
from followup.models.outbox import PENDING_CARE, PENDING_STATUSES, Message, Purpose
from followup.schedule import into_sending_window, local_datetime

CAPPED = (Purpose.CARE.value, Purpose.CAMPAIGN.value)
WEEK = 7
# Patients per query on SQLite, an expanding IN; PostgreSQL takes them all as one array.
SQLITE_BATCH = 1000
Days = Counter[date]
Key = tuple[int | None, str]  # patient, channel


@dataclass(frozen=True)
class Cap:
    per_day: int  # 0: no limit
    per_week: int  # in any seven consecutive days; 0: no limit

    @property
    def limits(self) -> bool:
        return bool(self.per_day or self.per_week)

    def describe(self, channel: Channel) -> str:
        parts = [f"{self.per_day} a day"] if self.per_day else []
        parts += [f"{self.per_week} in 7 days"] if self.per_week else []
        return f"{'SMS' if channel is Channel.SMS else 'email'}: at most {' and '.join(parts)}"

    def has_room(self, days: Days, day: date) -> bool:
        """Whether one more message on `day` keeps every day and every seven-day run
        that holds it within the cap."""
        if self.per_day and days[day] >= self.per_day:
            return False
        if not self.per_week or sum(days.values()) < self.per_week:
            return True
        # The days from a week before to a week after `day`; each run of seven holds it.
        around = [days[day + timedelta(days=n)] for n in range(1 - WEEK, WEEK)]
        held = sum(around[:WEEK])
        for first in range(WEEK):
            if first:
                held += around[first + WEEK - 1] - around[first - 1]
            if held >= self.per_week:
                return False
        return True

    def next_slot(
        self, days: Days, moment: datetime, zone: ZoneInfo, *, window: tuple[time, time] | None
    ) -> datetime:
        """`moment`, or the same local time on the first later day with room (moved into
        the sending `window` if one is given)."""
        at = moment.astimezone(zone).time()
        candidate = moment
        while not self.has_room(days, candidate.astimezone(zone).date()):
            day = candidate.astimezone(zone).date() + timedelta(days=1)
            candidate = local_datetime(day, at, zone).astimezone(UTC)
            if window is not None:
                candidate = into_sending_window(
                    candidate, zone=zone, start=window[0], end=window[1]
                )
        return candidate


class CappedRow(Protocol):
    """What the cap needs to know of a message (an outbox row, or a queued one)."""

    @property
    def id(self) -> int: ...
    @property
    def patient_id(self) -> int | None: ...  # None only for staff notifications (not capped)
    @property
    def channel(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def step(self) -> str | None: ...


def is_reminder(row: CappedRow) -> bool:
    """A next-appointment reminder: first in the cap, and never held by it."""
    return row.purpose == Purpose.CARE and (row.step or "").startswith(REMINDER_PREFIX)


def priority(row: CappedRow) -> int:
    """0 for an appointment reminder, 1 for a routine plan message, 2 for a campaign."""
    return 0 if is_reminder(row) else 1 + CAPPED.index(row.purpose)


class QueuedCappedRow(CappedRow, Protocol):
    @property
    def timezone(self) -> str: ...


class FrequencyCaps:
    def __init__(self, settings: Settings) -> None:
        self.caps = {
            Channel.SMS: Cap(settings.sms_per_day, settings.sms_per_week),
            Channel.EMAIL: Cap(settings.email_per_day, settings.email_per_week),
        }
        self.window = (settings.quiet_hours_start, settings.quiet_hours_end)

    def hold(
        self, session: Session, rows: Iterable[QueuedCappedRow], now: datetime
    ) -> dict[int, Skip | Defer]:
        """The rows (about to be sent at `now`) the budget has no room for, each with
        where it goes. Appointment reminders go first and are never held; a routine plan
        message leaves room for the reminders due within the week, a campaign for every
        plan message due within it. Call with the patients locked."""
        capped = sorted(
            (
                row
                for row in rows
                if row.purpose in CAPPED and self.caps[Channel(row.channel)].limits
            ),
            key=lambda row: (priority(row), row.id),
        )
        if not capped:
            return {}
        zones = {row.patient_id: ZoneInfo(row.timezone) for row in capped}
        spent = spent_days(session, zones, since=now - timedelta(days=WEEK + 1))
        batch = {row.id for row in capped}
        ahead = _planned_care(session, zones, now, leave_out=batch)
        held: dict[int, Skip | Defer] = {}
        for row in capped:
            channel = Channel(row.channel)
            cap, zone = self.caps[channel], zones[row.patient_id]
            key = (row.patient_id, row.channel)
            today = now.astimezone(zone).date()
            if is_reminder(row):
                spent[key][today] += 1
                continue
            kept = ahead.reminders[key] if row.purpose == Purpose.CARE else ahead.everything[key]
            window = self.window if channel is Channel.SMS else None
            slot = cap.next_slot(spent[key] + kept, now, zone, window=window)
            if slot == now:
                spent[key][today] += 1
                continue
            reason = f"frequency cap ({cap.describe(channel)})"
            if row.purpose == Purpose.CARE and cap.has_room(spent[key], today):
                reason += ", its room kept for an appointment reminder"
            if slot >= row.expires_at:
                held[row.id] = Skip(f"{reason}: no room before it expires")
            else:
                held[row.id] = Defer(slot, f"{reason}: moved to {slot.astimezone(zone):%a %m-%d}")
        return held


# Built once for each database (`followup.db.per_dialect`): the patients' capped
# messages that reached them since `since`, and their plan messages due before `until`.
SPENT = per_dialect(
    lambda member_of: select(Message.patient_id, Message.channel, Message.attempted_at).where(
        member_of(Message.patient_id, "patients", Integer()),
        Message.purpose.in_(CAPPED),
        Message.status.in_(REACHED),
        Message.attempted_at >= bindparam("since"),
    )
)
PLANNED = per_dialect(
    lambda member_of: select(
        Message.id, Message.patient_id, Message.channel, Message.due_at, Message.step
    ).where(
        member_of(Message.patient_id, "patients", Integer()),
        text(PENDING_CARE),  # as written in its index's predicate, which the planner matches
        Message.due_at < bindparam("until"),
    )
)


def spent_days(
    session: Session, zones: dict[int | None, ZoneInfo], *, since: datetime
) -> defaultdict[Key, Days]:
    """Per (patient, channel), how many capped messages reached the patient (or may
    have) on each of their local days since `since`."""
    spent: defaultdict[Key, Days] = defaultdict(Counter)
    parameters = {"patients": list(zones), "since": since}
    # Fetched at once: row by row costs a call each.
    rows = session.connection().execute(SPENT[dialect_name(session)], parameters).all()
    for patient_id, channel, attempted_at in rows:
        local = cast(datetime, attempted_at).astimezone(zones[patient_id])
        spent[(patient_id, channel)][local.date()] += 1
    return spent


class Planned(NamedTuple):
    """Per (patient, channel), the plan messages due on each local day of the week ahead."""

    reminders: defaultdict[Key, Days]  # appointment reminders: routine plan messages leave room
    everything: defaultdict[Key, Days]  # every plan message: campaigns leave room


def _planned_care(
    session: Session, zones: dict[int | None, ZoneInfo], now: datetime, *, leave_out: set[int]
) -> Planned:
    """The patients' plan messages due in the week ahead, but those of `leave_out`
    (being sent now)."""
    planned = Planned(defaultdict(Counter), defaultdict(Counter))
    if not zones:
        return planned
    parameters = {"patients": list(zones), "until": now + timedelta(days=WEEK)}
    rows = session.connection().execute(PLANNED[dialect_name(session)], parameters).all()
    for message_id, patient_id, channel, due_at, step in rows:
        if message_id in leave_out:
            continue
        day = max(due_at, now).astimezone(zones[patient_id]).date()
        planned.everything[(patient_id, channel)][day] += 1
        if step and step.startswith(REMINDER_PREFIX):
            planned.reminders[(patient_id, channel)][day] += 1
    return planned


@dataclass(frozen=True)
class Projection:
    due_at: datetime  # where the cap puts it
    skipped: str | None  # why it would be skipped, if it would


def project(
    caps: FrequencyCaps,
    spent: Days,
    pending: Sequence[tuple[CappedRow, datetime]],
    *,
    zone: ZoneInfo,
) -> dict[int, Projection]:
    """Where one patient's pending (row, due time) pairs on one channel would go out,
    given the `spent` days: appointment reminders at their time, then plan messages in
    turn, then campaigns in the room the plan leaves them (as at send time)."""
    days = Counter(spent)
    result = {}
    for row, due_at in sorted(pending, key=lambda p: (priority(p[0]), p[1])):
        channel = Channel(row.channel)
        if row.purpose not in CAPPED or not caps.caps[channel].limits:
            continue
        if is_reminder(row):  # at its time, whatever the days hold
            days[due_at.astimezone(zone).date()] += 1
            result[row.id] = Projection(due_at, None)
            continue
        window = caps.window if channel is Channel.SMS else None
        slot = caps.caps[channel].next_slot(days, due_at, zone, window=window)
        if slot >= row.expires_at:
            reason = f"frequency cap ({caps.caps[channel].describe(channel)})"
            result[row.id] = Projection(slot, f"{reason}: no room before it expires")
            continue
        days[slot.astimezone(zone).date()] += 1
        result[row.id] = Projection(slot, None)
    return result


def planned_effect(
    session: Session, caps: FrequencyCaps, *, patient_id: int, zone: ZoneInfo, now: datetime
) -> dict[int, Projection]:
    """Where the cap would put each of the patient's pending plan and campaign messages,
    by message id (`followup schedule`)."""
    spent = spent_days(session, {patient_id: zone}, since=now - timedelta(days=WEEK + 1))
    pending = session.scalars(
        select(Message).where(
            Message.patient_id == patient_id,
            Message.status.in_(PENDING_STATUSES),
            Message.purpose.in_(CAPPED),
        )
    ).all()
    effect: dict[int, Projection] = {}
    for channel in Channel:
        rows = [(m, max(m.due_at, now)) for m in pending if m.channel == channel]
        effect |= project(caps, spent[(patient_id, channel.value)], rows, zone=zone)
    return effect


def without_room(
    session: Session,
    caps: FrequencyCaps,
    channel: Channel,
    sends: dict[int, tuple[ZoneInfo, datetime]],
    *,
    now: datetime,
) -> int:
    """How many of the patients, each sent a campaign message at the given time in
    their zone, the budget has no room for that day (so it holds them to a later day
    or skips them), leaving room for the plan messages due within the week."""
    cap = caps.caps[channel]
    if not cap.limits or not sends:
        return 0
    held, ids = 0, sorted(sends)
    batch = len(ids) if on_postgresql(session) else SQLITE_BATCH
    for first in range(0, len(ids), batch):
        part = ids[first : first + batch]
        zones: dict[int | None, ZoneInfo] = {p: sends[p][0] for p in part}
        spent = spent_days(session, zones, since=now - timedelta(days=WEEK + 1))
        planned = _planned_care(session, zones, now, leave_out=set()).everything
        for patient_id in part:
            key = (patient_id, channel.value)
            sent, coming = spent.get(key), planned.get(key)
            days = sent + coming if sent and coming else sent or coming
            if days:  # no message in the fortnight: room
                zone, at = sends[patient_id]
                held += not cap.has_room(days, at.astimezone(zone).date())
    return held
