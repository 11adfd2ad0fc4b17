"""When the clinic answers the phone: open days and hours in the clinic's time zone. Pure.

Attention alerts escalate in clinic time (two hours of clinic time, not two hours of
night), and answers promise a call back when the clinic will really make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from followup.config import Settings
from followup.schedule import local_datetime

WEEK = 7


@dataclass(frozen=True)
class ClinicHours:
    days: frozenset[int]  # weekday numbers, Monday 0
    opens: time
    closes: time
    zone: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> ClinicHours:
        return cls(
            frozenset(settings.clinic_day_numbers),
            settings.clinic_opens,
            settings.clinic_closes,
            ZoneInfo(settings.default_timezone),
        )

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if the clinic is open then, else the next opening (UTC)."""
        if self.is_open(moment):
            return moment.astimezone(UTC)
        local = moment.astimezone(self.zone)
        for ahead in range(WEEK + 1):
            day = local.date() + timedelta(days=ahead)
            opening = local_datetime(day, self.opens, self.zone)
            if day.weekday() in self.days and opening > local:
                return opening.astimezone(UTC)
        raise AssertionError("a clinic with open days opens within a week")  # pragma: no cover

    def closing(self, moment: datetime) -> datetime:
        """When the clinic closes on the day of `moment` (UTC); for an open moment."""
        local = moment.astimezone(self.zone)
        return local_datetime(local.date(), self.closes, self.zone).astimezone(UTC)

    def after_open_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of open clinic time has passed since `start` (UTC)."""
        moment, left = self.next_open(start), duration
        while True:
            closes = self.closing(moment)
            if moment + left <= closes:
                return moment + left
            left -= closes - moment
            moment = self.next_open(closes)
