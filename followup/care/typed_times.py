"""A time as staff type one (a file's cell, a command's option): ISO 8601, local to the
patient when it has no offset. A date or time that does not exist (February 30, 25:00)
is said to be so, not called a format error."""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from followup.exceptions import InvalidInput

# The shape of the ISO 8601 times people type, whatever the numbers in it.
_ISO_SHAPE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_local_time(raw: str, zone: ZoneInfo) -> datetime:
    """ISO 8601; a time without an offset is the patient's local time."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        reason = _impossible(raw.strip())
        if reason:
            raise InvalidInput(f"time {raw!r} is not a real {reason}") from None
        raise InvalidInput(f"time {raw!r} is not ISO 8601 (e.g. 2026-11-20 14:30)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def no_such_day(year: int, month: int, day: int) -> str | None:
    """Why these numbers make no date ("February 2026 has 28 days"), or None."""
    if year < 1:
        return "there is no year 0"
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{calendar.month_name[month]} {year} has {days} days"
    return None


def _impossible(text: str) -> str | None:
    """What does not exist in a time of the ISO shape ("date: February 2026 has 28
    days"), or None if its numbers are not the problem."""
    shape = _ISO_SHAPE.fullmatch(text)
    if shape is None:
        return None
    wrong_day = no_such_day(int(shape["year"]), int(shape["month"]), int(shape["day"]))
    if wrong_day:
        return f"date: {wrong_day}"
    for unit, top in (("hour", 23), ("minute", 59), ("second", 59)):
        value = shape[unit]
        if value is not None and int(value) > top:
            return f"time: there is no {unit} {int(value)}"
    return None
