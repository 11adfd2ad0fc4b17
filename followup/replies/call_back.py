"""What an answer to a patient may promise: whether staff were alerted, and when the
clinic will call back, in clinic hours as configured.

The same facts go into the SMS answer to a reply and the page after a one-tap answer,
so neither promises a call "today" on a Sunday or says staff know when nobody was told.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from babel.dates import format_date, format_time

from followup.care.clinic_hours import ClinicHours
from followup.config import Settings
from followup.models.replies import Triage
from followup.replies.alerts import next_escalation

Facts = tuple[tuple[str, Hashable], ...]


def answer_facts(
    settings: Settings, *, language: str, alerted: bool, advice: tuple[str, ...], now: datetime
) -> Facts:
    """The facts for an emergency or attention answer: the call back is promised by the
    day the attention alert escalates, within the clinic's opening hours that day."""
    hours = ClinicHours.from_settings(settings)
    by = next_escalation(Triage.ATTENTION, now, settings).astimezone(hours.zone)
    days = (by.date() - now.astimezone(hours.zone).date()).days
    return (
        ("alerted", alerted),
        ("advice", advice),
        ("call_back", "today" if days == 0 else "tomorrow" if days == 1 else "weekday"),
        ("day", format_date(by, "EEEE", locale=language)),
        ("opens", format_time(hours.opens, "short", locale=language)),
        ("closes", format_time(hours.closes, "short", locale=language)),
    )
