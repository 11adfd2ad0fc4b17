"""Time zones chosen by the hour it is there now, so a test's recipients are awake
(or asleep) whatever the machine's clock says."""

from __future__ import annotations

from datetime import datetime


def zone_where_it_is(hour: int, now: datetime) -> str:
    """An IANA zone where the local time is now `hour` o'clock (give or take an hour)."""
    offset = (hour - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    # Etc/GMT zones carry the sign the other way round (Etc/GMT+5 is UTC-5).
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def daytime_zone(now: datetime) -> str:
    """A zone where it is early afternoon now, so no text meets quiet hours."""
    return zone_where_it_is(13, now)
