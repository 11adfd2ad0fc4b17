"""`followup check`: every plan template renders with sample data and keeps the rules.

Rules: every variable defined; each SMS within two segments and free of diagnosis
words; each email subject free of health detail; each plan template names, in a
comment at its top, the article passage its advice comes from.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import TemplateSyntaxError

from followup.alerts import Raised, notice_context
from followup.config import Settings
from followup.encoding import sms_shape
from followup.exceptions import FollowupError
from followup.links import Links
from followup.models import Channel, Office, Patient, Triage, Visit
from followup.plans import PREFERRED, list_plans
from followup.render import ANSWERS, Renderer, message_context

MAX_SMS_SEGMENTS = 2
# Words that would tell a reader of a lock screen or an inbox what the patient has.
DIAGNOSIS_TERMS = (
    r"\w*arthritis",
    "crepitus",
    "facets?",
    "nerves?",
    "ligaments?",
    "tendons?",
    "cartilage",
    "synovial",
    "steroids?",
    "injections?",
    r"diagnos\w*",
    "popping",
    "lower back",
    "spine",
    "spinal",
    "sciatica",
    "discs?",
    r"herniat\w*",
)
SUBJECT_TERMS = DIAGNOSIS_TERMS + (
    "pain",
    "back",
    r"symptoms?",
    "therapy",
    r"exercis\w*",
    "warning",
)
SOURCE_COMMENT = re.compile(r"\A\{#\s*Source:", re.IGNORECASE)


@dataclass(frozen=True)
class CheckedTemplate:
    plan: str
    step: str
    channel: Channel
    preview: str
    encoding: str = ""
    segments: int = 0


def sample_patient(settings: Settings) -> Patient:
    # A long name, so the segment budget holds for real patients too.
    return Patient(
        id=0,
        ref="sample",
        first_name="Maximiliana-Josefina",
        last_name="Sample",
        phone="+12015550123",
        email="sample@example.com",
        preferred_channel="sms",
        language="en",
        timezone=settings.default_timezone,
    )


def sample_visit() -> Visit:
    return Visit(
        id=0,
        ref="sample",
        office=Office.WEEHAWKEN.value,
        clinician="Dr. Sample",
        visited_at=datetime(2026, 9, 30, 15, 0, tzinfo=UTC),
        plan="sample",
    )


def check_templates(settings: Settings) -> tuple[list[CheckedTemplate], list[str]]:
    """Render every plan step on every channel it may use; return results and problems."""
    renderer = Renderer(settings.templates_dir)
    problems = _syntax_problems(renderer, settings.templates_dir)
    checked: list[CheckedTemplate] = []
    context = message_context(
        patient=sample_patient(settings), visit=sample_visit(), settings=settings
    )
    context["answers"] = Links(settings).answer_urls(0)
    clinic = settings.clinic_name.lower()
    for plan in list_plans(settings.plans_dir):
        for step in plan.steps:
            channels = list(Channel) if step.channel == PREFERRED else [Channel(step.channel)]
            for channel in channels:
                where = (
                    f"plan {plan.name}, step {step.key}, {channel.value} template {step.template!r}"
                )
                try:
                    if channel is Channel.SMS:
                        text = renderer.sms(step.template, "en", context)
                        shape = sms_shape(text)
                        checked.append(
                            CheckedTemplate(
                                plan.name, step.key, channel, text, shape.encoding, shape.segments
                            )
                        )
                        if shape.segments > MAX_SMS_SEGMENTS:
                            problems.append(
                                f"{where}: {shape.segments} segments ({shape.encoding})"
                            )
                        problems += _terms(
                            where, "SMS", text.lower().replace(clinic, ""), DIAGNOSIS_TERMS
                        )
                    else:
                        email = renderer.email(step.template, "en", context)
                        checked.append(CheckedTemplate(plan.name, step.key, channel, email.subject))
                        problems += _terms(
                            where,
                            "subject",
                            email.subject.lower().replace(clinic, ""),
                            SUBJECT_TERMS,
                        )
                except FollowupError as exc:
                    problems.append(f"{where}: {exc}")
            problems += _source_problems(settings.templates_dir, step.template)
    problems += _answer_problems(renderer, settings, checked)
    problems += _staff_problems(renderer, settings)
    return checked, sorted(set(problems))


def _answer_problems(
    renderer: Renderer, settings: Settings, checked: list[CheckedTemplate]
) -> list[str]:
    problems = []
    for language in sorted(
        p.name for p in (settings.templates_dir / "sms").iterdir() if p.is_dir()
    ):
        for name in ANSWERS:
            if name == "unknown" and language != "en":
                continue  # an unknown sender's language is unknown: English
            for variant, facts in _answer_variants(name):
                where = f"answer {name!r} ({language}{variant})"
                try:
                    text = renderer.answer(name, language, settings, facts)
                except FollowupError as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                shape = sms_shape(text)
                checked.append(
                    CheckedTemplate(
                        "answers",
                        f"{name}-{language}{variant.replace(', ', '-')}",
                        Channel.SMS,
                        text,
                        shape.encoding,
                        shape.segments,
                    )
                )
                if shape.segments > MAX_SMS_SEGMENTS:
                    problems.append(f"{where}: {shape.segments} segments ({shape.encoding})")
    return problems


def _answer_variants(name: str) -> list[tuple[str, tuple[tuple[str, Hashable], ...]]]:
    """Every set of facts an answer may be rendered with (see web.twilio.answer_facts)."""
    if name not in (Triage.EMERGENCY, Triage.ATTENTION):
        return [("", ())]
    return [
        (
            f", {'alerted' if alerted else 'nobody alerted'}, {call_back}",
            (
                ("alerted", alerted),
                ("advice", ("constant-popping",) if name == Triage.ATTENTION else ()),
                ("call_back", call_back),
                ("weekday", 2),
            ),
        )
        for alerted in (True, False)
        for call_back in ("today", "tomorrow", "weekday")
    ]


def _staff_problems(renderer: Renderer, settings: Settings) -> list[str]:
    problems = []
    for level in (Triage.EMERGENCY, Triage.ATTENTION):
        for step in (0, 1, 2):
            context = notice_context(Raised(1, 0, level), step, Links(settings))
            for name in ("alert-sms.txt", "alert-email.subject.txt", "alert-email.txt"):
                try:
                    renderer.staff(name, context)
                except FollowupError as exc:
                    problems.append(f"staff {name}: {exc}")
    return problems


def route_warnings(settings: Settings) -> list[str]:
    """What would leave an alert with nobody to reach (production refuses the first)."""
    warnings = []
    if not settings.oncall:
        warnings.append(
            "alerts: no on-call route (FOLLOWUP_ONCALL_SMS or FOLLOWUP_ONCALL_EMAILS): an "
            "emergency reply would notify nobody; production refuses to start like this"
        )
    if not settings.second_tier:
        warnings.append(
            "alerts: no second tier (FOLLOWUP_ESCALATION_SMS or FOLLOWUP_ESCALATION_EMAILS): "
            "an unacknowledged alert is only repeated to the on-call staff"
        )
    return warnings


def health_terms(text: str, terms: tuple[str, ...]) -> list[str]:
    """The words of `terms` found in `text` (lower case), each once."""
    return sorted(set(re.findall(r"\b(?:" + "|".join(terms) + r")\b", text)))


def _terms(where: str, part: str, text: str, terms: tuple[str, ...]) -> list[str]:
    return [f"{where}: {part} mentions {word!r}" for word in health_terms(text, terms)]


def _source_problems(templates_dir: Path, template: str) -> list[str]:
    problems = []
    for path in sorted(templates_dir.glob(f"*/*/{template}.*")):
        if not SOURCE_COMMENT.match(path.read_text(encoding="utf-8")):
            problems.append(
                f"{path.relative_to(templates_dir)}: no '{{# Source: ... #}}' comment at its top"
            )
    return problems


def _syntax_problems(renderer: Renderer, templates_dir: Path) -> list[str]:
    problems = []
    for path in sorted(templates_dir.rglob("*")):
        if path.is_file():
            name = path.relative_to(templates_dir).as_posix()
            try:
                renderer.environment.get_template(name)
            except TemplateSyntaxError as exc:
                problems.append(f"{name}: line {exc.lineno}: {exc.message}")
    return problems
