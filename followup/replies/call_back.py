"""What an answer to a patient may promise: whether staff were alerted, and when the
clinic will call back, in clinic hours as configured.

The same facts go into the SMS answer to a reply and the page after a one-tap answer,
so neither promises a call "today" on a Sunday or says staff know when nobody was told.
An appointment's answers say its day and time on the clinic's clock, and a request to
reschedule promises the front desk's call when the clinic is next open.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from babel.dates import format_date, format_time

from followup.care.clinic_hours import ClinicHours
from followup.config import Settings
from followup.content.render import appointment_words
from followup.models.replies import Triage
from followup.replies.alerts import next_escalation
from followup.replies.program_answers import ProgrammeAnswer

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


def programme_facts(
    settings: Settings, answer: ProgrammeAnswer, *, language: str, now: datetime
) -> Facts:
    """The facts of the answer to a DONE, C or R (`answer-<kind>`): a confirmed
    appointment's day, time (clinic time) and office; for a request to reschedule, when
    the front desk will call (the clinic's next open hours)."""
    if answer.kind == "confirm" and answer.appointment_at is not None:
        when = appointment_words(answer.appointment_at, settings.clinic_timezone, language)
        return (("date", when["date"]), ("time", when["time"]), ("office", answer.office or ""))
    if answer.kind != "reschedule":
        return ()
    hours = ClinicHours.from_settings(settings)
    opens = hours.next_open(now).astimezone(hours.zone)
    days = (opens.date() - now.astimezone(hours.zone).date()).days
    return (
        ("call_back", "today" if days == 0 else "tomorrow" if days == 1 else "weekday"),
        ("day", format_date(opens, "EEEE", locale=language)),
        ("opens", format_time(hours.opens, "short", locale=language)),
        ("closes", format_time(hours.closes, "short", locale=language)),
    )
