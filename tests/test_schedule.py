from datetime import UTC, date, datetime, time, timedelta
from random import Random
from zoneinfo import ZoneInfo

from followup.schedule import (
    into_sending_window,
    local_datetime,
    retry_delay,
    step_due_at,
)

NY = ZoneInfo("America/New_York")


def window(moment: datetime) -> datetime:
    return into_sending_window(moment, zone=NY, start=time(8), end=time(21))


def inside(moment: datetime) -> bool:
    return window(moment) == moment


def test_plan_time_is_local_wall_clock_across_the_autumn_change() -> None:
    # Visit on Friday 30 Oct 2026 (EDT, UTC-4); day 3 at 10:00 is Monday 2 Nov (EST, UTC-5).
    visit = datetime(2026, 10, 30, 14, 0, tzinfo=UTC)
    due = step_due_at(visit, day_offset=3, at=time(10), zone=NY)
    assert due == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert due.astimezone(NY).hour == 10


def test_plan_time_is_local_wall_clock_across_the_spring_change() -> None:
    visit = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # Friday 10:00 EST
    due = step_due_at(visit, day_offset=3, at=time(10), zone=NY)
    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT


def test_time_in_the_spring_gap_moves_forward_and_repeated_time_means_the_first() -> None:
    gap = local_datetime(date(2026, 3, 8), time(2, 30), NY)
    assert (gap.hour, gap.minute, gap.utcoffset()) == (3, 30, timedelta(hours=-4))
    repeated = local_datetime(date(2026, 11, 1), time(1, 30), NY)
    assert repeated.utcoffset() == timedelta(hours=-4)


def test_step_never_falls_before_the_visit() -> None:
    visit = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)  # 18:30 local, after a day-0 17:00 step
    assert step_due_at(visit, day_offset=0, at=time(17), zone=NY) == visit


def test_quiet_hours_move_early_and_late_messages_into_the_window() -> None:
    early = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)  # 06:00 local
    late = datetime(2026, 11, 17, 2, 30, tzinfo=UTC)  # 21:30 local on the 16th
    afternoon = datetime(2026, 11, 16, 20, 0, tzinfo=UTC)  # 15:00 local
    assert window(early) == datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
    assert window(late) == datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
    assert window(afternoon) == afternoon
    assert not inside(late)
    assert inside(afternoon)


def test_quiet_hours_window_respects_the_dst_change_overnight() -> None:
    # 22:00 EDT on Sat 31 Oct; the window opens 08:00 EST on Sun 1 Nov = 13:00 UTC.
    late = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    assert window(late) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)


def test_end_of_window_is_exclusive() -> None:
    at_nine_pm = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)  # 21:00 local
    assert not inside(at_nine_pm)


def test_retry_delay_grows_exponentially_with_bounded_jitter() -> None:
    rng = Random(7)
    delays = [retry_delay(attempt, base=30, cap=600, rng=rng) for attempt in range(1, 8)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(600, 30 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay.total_seconds() <= ceiling
    assert delays[-1].total_seconds() <= 600
    assert delays[3] > delays[0]
