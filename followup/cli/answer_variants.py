"""The facts each answer to a patient's text is rendered with in `followup check`: every
kind an answer may really be sent with (see `followup.replies.call_back`)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from followup.config import Settings
from followup.models.care import Office
from followup.models.replies import Triage
from followup.replies.call_back import Facts, answer_facts, programme_facts
from followup.replies.program_answers import ProgrammeAnswer

# The advice a rule may add to an answer, rendered in the check.
ADVICE_SHOWN = {"attention": ("constant-popping",), "emergency": ("crisis-line",)}
PROGRAMME_ANSWERS = frozenset({"done", "confirm", "reschedule"})


def answer_variants(name: str, language: str, settings: Settings) -> list[tuple[str, Facts]]:
    """Every kind of facts an answer may be rendered with (see `followup.replies.call_back`):
    staff alerted or not; a call back today, tomorrow or on a later weekday; the advice
    a rule may add."""
    zone = ZoneInfo(settings.default_timezone)
    # A Wednesday morning and evening, and a Friday evening, at the clinic.
    moments = [datetime(2026, 9, 30, 9, 0), datetime(2026, 9, 30, 19, 0)]
    moments.append(datetime(2026, 10, 2, 19, 0))
    if name in PROGRAMME_ANSWERS:
        return _programme_variants(name, language, settings, moments, zone)
    if name not in (Triage.EMERGENCY, Triage.ATTENTION, "emergency-doubt"):
        return [("", ())]
    advice = ADVICE_SHOWN.get(name, ())
    variants = []
    for alerted in (True, False):
        for moment in moments:
            facts = answer_facts(
                settings,
                language=language,
                alerted=alerted,
                advice=advice,
                now=moment.replace(tzinfo=zone),
            )
            label = f", {'alerted' if alerted else 'nobody alerted'}, {dict(facts)['call_back']}"
            variants.append((label, facts))
    return variants


def _programme_variants(
    name: str, language: str, settings: Settings, moments: list[datetime], zone: ZoneInfo
) -> list[tuple[str, Facts]]:
    """The answers to DONE, C and R: a confirmation with the longest day, time and office
    written; a request to reschedule answered today, tomorrow or on a later weekday."""
    if name == "confirm":
        longest = datetime(2026, 9, 30, 23, 30, tzinfo=UTC)  # Wednesday, September 30, 7:30 PM
        answer = ProgrammeAnswer("confirm", longest, Office.JERSEY_CITY.label)
        return [("", programme_facts(settings, answer, language=language, now=longest))]
    if name == "done":
        return [("", ())]
    variants = []
    for moment in moments:
        facts = programme_facts(
            settings, ProgrammeAnswer(name), language=language, now=moment.replace(tzinfo=zone)
        )
        variants.append((f", {dict(facts)['call_back']}", facts))
    return variants
