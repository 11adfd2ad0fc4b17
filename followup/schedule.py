"""Pure time rules: local plan times, quiet hours, expiry. No I/O.

Rows store UTC; plans speak in the patient's local wall-clock time. A wall-clock
time that does not exist (the spring-forward gap) moves forward by the gap; one that
happens twice (the autumn fall-back) means its first occurrence.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_datetime(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The aware moment a wall clock in `zone` shows `at` on `day`."""
    # fold=0 reads a gap time with the offset in force before the jump, so the round
    # trip through UTC lands after the gap; for a repeated time it picks the first.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The aware moment `day` begins on a wall clock in `zone`."""
    return local_datetime(day, time(0), zone)


def step_due_at(visited_at: datetime, *, day_offset: int, at: time, zone: ZoneInfo) -> datetime:
    """UTC moment of 'day N at HH:MM' in the patient's zone, never before the visit."""
    visit_day = visited_at.astimezone(zone).date()
    due = local_datetime(visit_day + timedelta(days=day_offset), at, zone).astimezone(UTC)
    return max(due, visited_at.astimezone(UTC))


def into_sending_window(moment: datetime, *, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`moment` if the patient's local clock is within [start, end); else the next start."""
    local = moment.astimezone(zone)
    if local.time() < start:
        return local_datetime(local.date(), start, zone).astimezone(UTC)
    if local.time() >= end:
        return local_datetime(local.date() + timedelta(days=1), start, zone).astimezone(UTC)
    return moment.astimezone(UTC)


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> timedelta:
    """Exponential backoff with equal jitter: half fixed, half random, capped."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=ceiling / 2 + rng.uniform(0, ceiling / 2))
