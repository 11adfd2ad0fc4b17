"""The one text sent back in answer to a patient's SMS: safety first, consent after.

A reply with a warning sign gets the safety answer whatever else it says; when it also
revoked consent, the opt-out confirmation follows in the same text (one answer, as the
TCPA allows). An emergency only the second reader found gets the answer that is honest
about the doubt. A DONE, C or R that counted gets its own short answer (what was
recorded), else the routine one. A number that matches no patient is answered in
English and Spanish.
"""

from __future__ import annotations

from datetime import datetime

from followup.config import Settings
from followup.content.render import Renderer
from followup.models.replies import Triage
from followup.replies.call_back import answer_facts, programme_facts
from followup.replies.inbound_sms import Received

# Languages of the answer to a number that matches no patient.
UNKNOWN_SENDER_LANGUAGES = ("en", "es")


def answer_text(
    received: Received, *, renderer: Renderer, settings: Settings, now: datetime
) -> str | None:
    """The answer to one received SMS; None for a second stop (one confirmation only)."""
    reading = received.reading
    safety = reading.triage in (Triage.EMERGENCY, Triage.ATTENTION)
    stopped_before = reading.keyword == "stop" and received.consent_change != "stopped"
    if stopped_before and not safety and received.language is not None:
        return None
    languages = (received.language,) if received.language else UNKNOWN_SENDER_LANGUAGES
    return "\n".join(
        _answer(received, language, renderer=renderer, settings=settings, now=now)
        for language in languages
    )


def _answer(
    received: Received, language: str, *, renderer: Renderer, settings: Settings, now: datetime
) -> str:
    reading = received.reading
    if reading.triage in (Triage.EMERGENCY, Triage.ATTENTION):
        facts = answer_facts(
            settings, language=language, alerted=received.alerted, advice=reading.advice, now=now
        )
        name = "emergency-doubt" if reading.model_only else str(reading.triage)
        text = renderer.answer(name, language, settings, facts)
        if received.consent_change == "stopped":
            text += " " + renderer.answer("stop", language, settings)
        return text
    name = _plain_answer(received)
    if name == "routine" and received.programme is not None:
        # A DONE, C or R gets its own answer, saying what was recorded.
        answer = received.programme
        facts = programme_facts(settings, answer, language=language, now=now)
        return renderer.answer(answer.kind, language, settings, facts)
    return renderer.answer(name, language, settings)


def _plain_answer(received: Received) -> str:
    """The answer's name for a reply with no warning sign."""
    keyword = received.reading.keyword
    if received.language is None:
        return "unknown"
    if received.consent_change == "stopped":  # the one confirmation
        return "stop"
    if received.consent_change == "restarted" or keyword == "start":
        return "start"
    if keyword in ("help", "unsure"):
        return keyword
    return "routine"
