"""How the console shows values to people: times on the clinic's clock (and the
patient's own where it differs), ages and waits in words, phone numbers in their
national format, and the names staff use for offices and languages.

Rows keep UTC and raw codes; only pages go through here. Formatting is Babel's
(`en_US`: the console is in English) and phone formats are `phonenumbers`'.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time

from followup.care.patients import phone_for_people
from followup.models.care import Office

LOCALE = "en_US"
HOME_REGION = "US"


class Display:
    """Formatting for one page, drawn at `now` for a clinic in `zone`."""

    def __init__(self, zone: ZoneInfo, now: datetime) -> None:
        self.zone = zone
        self.now = now

    def time(self, moment: datetime | None) -> str:
        """'Dec 1, 2:46 PM EST' on the clinic's clock; the year only when it is not this one."""
        if moment is None:
            return ""
        local = moment.astimezone(self.zone)
        pattern = "MMM d, h:mm a z" if local.year == self.now.year else "MMM d, y, h:mm a z"
        return format_datetime(local, pattern, tzinfo=self.zone, locale=LOCALE)

    def iso(self, moment: datetime | None) -> str:
        """The `datetime` attribute of a <time> element."""
        return "" if moment is None else moment.astimezone(self.zone).isoformat(timespec="minutes")

    def date(self, moment: datetime) -> str:
        return format_date(moment.astimezone(self.zone), "MMM d, y", locale=LOCALE)

    def patient_time(self, moment: datetime | None, timezone: str) -> str:
        """The patient's own clock, when it is not the clinic's ('' when it is)."""
        if moment is None:
            return ""
        zone = ZoneInfo(timezone)
        if moment.astimezone(zone).utcoffset() == moment.astimezone(self.zone).utcoffset():
            return ""
        local = moment.astimezone(zone)
        return format_time(local, "h:mm a z", tzinfo=zone, locale=LOCALE)

    def clock(self, moment: datetime, timezone: str | None = None) -> str:
        """A time of day on the patient's clock ('8:00 AM'), or the clinic's."""
        zone = ZoneInfo(timezone) if timezone else self.zone
        return format_time(moment.astimezone(zone), "h:mm a", tzinfo=zone, locale=LOCALE)

    def ago(self, moment: datetime | None) -> str:
        """'12 min ago', '3 h ago', '2 days ago'; 'in 5 min' for a time to come."""
        if moment is None:
            return ""
        delta = self.now - moment
        words = duration(abs(delta), coarse=True)
        if words == "0 min":
            return "just now"
        return f"{words} ago" if delta >= timedelta(0) else f"in {words}"

    def waited(self, since: datetime) -> str:
        """How long something has waited: '1 h 12 min'."""
        return duration(self.now - since)

    @staticmethod
    def duration(span: timedelta) -> str:
        return duration(span)


def duration(span: timedelta, *, coarse: bool = False) -> str:
    """'1 h 12 min', '45 min', '2 days 3 h'; coarse keeps the largest unit only."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day" + ("s" if days != 1 else ""))
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return parts[0] if coarse else " ".join(parts[:2])


def phone(number: str | None) -> str:
    """A number as people write it: national format at home, international abroad."""
    if not number:
        return ""
    national = phone_for_people(number)
    if national != number:
        return national or ""
    try:
        parsed = phonenumbers.parse(number, HOME_REGION)
    except phonenumbers.NumberParseException:
        return number
    home = phonenumbers.region_code_for_number(parsed) == HOME_REGION
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(parsed, style.NATIONAL if home else style.INTERNATIONAL)


def language(code: str | None) -> str:
    """'English', 'Spanish' for 'en', 'es'; the code itself if Babel does not know it."""
    if not code:
        return ""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(LOCALE)
    except (UnknownLocaleError, ValueError):
        return code
    return name or code


def office(value: str | None) -> str:
    """'Jersey City' for 'jersey-city'."""
    if not value:
        return ""
    try:
        return Office(value).label
    except ValueError:
        return value
