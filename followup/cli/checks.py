"""`followup check`: every plan template renders with sample data and keeps the rules.

Rules: every variable defined; every patient template in every patient language with
the same variables (`followup.content.translations`); each SMS GSM-7, within two segments and
free of diagnosis words; each email subject free of health detail (in English and
Spanish); each plan template names, in a comment at its top, the article passage its
advice comes from. Every rendered message is also read for its reading level
(`followup.content.readability`), against a goal of grade 6 for SMS and 8 for email.
The exercise library and the messages naming a programme or an appointment are
checked too (`followup.cli.program_checks`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from jinja2 import TemplateSyntaxError

from followup.care.appointments import TEMPLATE as APPOINTMENT_TEMPLATE
from followup.care.patients import LANGUAGES
from followup.care.plans import PREFERRED, Step, list_plans
from followup.cli.answer_variants import answer_variants
from followup.cli.program_checks import dependent_renders, library_problems, page_problems
from followup.config import Settings
from followup.content.encoding import sms_shape
from followup.content.links import Links
from followup.content.minimum_necessary import DIAGNOSIS_TERMS, SUBJECT_TERMS, health_terms
from followup.content.readability import reading_level
from followup.content.render import ANSWERS, Renderer, message_context
from followup.content.translations import language_problems
from followup.exceptions import FollowupError
from followup.models.base import Channel
from followup.models.care import Office, Patient, Visit
from followup.models.replies import Triage
from followup.replies.alerts import Raised, notice_context
from followup.runtime import LazyRuntime

MAX_SMS_SEGMENTS = 2
# Answers that carry safety lines (the signs to call 911 for, the 988 crisis line) may
# run longer: leaving a sign out to save a segment is the wrong trade.
SAFETY_ANSWER_SEGMENTS = 4
SAFETY_ANSWERS = frozenset({"emergency", "emergency-doubt"})
GRADE_GOAL = {Channel.SMS: 6.0, Channel.EMAIL: 8.0}
SAMPLE_NAME = "Maximiliana-Josefina"
SOURCE_COMMENT = re.compile(r"\A\{#\s*Source:", re.IGNORECASE)


@dataclass(frozen=True)
class CheckedTemplate:
    plan: str
    step: str
    channel: Channel
    language: str
    preview: str
    grade: float
    encoding: str = ""
    segments: int = 0

    @property
    def name(self) -> str:
        return f"{self.plan}/{self.step}/{self.channel.value}/{self.language}"

    @property
    def over_goal(self) -> bool:
        return self.grade > GRADE_GOAL[self.channel]


def sample_patient(settings: Settings, language: str = "en") -> Patient:
    # A long name, so the segment budget holds for real patients too.
    return Patient(
        id=0,
        ref="sample",
        first_name=SAMPLE_NAME,
        last_name="Sample",
        phone="+12015550123",
        email="sample@example.com",
        preferred_channel="sms",
        language=language,
        timezone=settings.default_timezone,
    )


def sample_visit() -> Visit:
    return Visit(
        id=0,
        ref="sample",
        office=Office.WEEHAWKEN.value,
        clinician="Dr. Sample",
        # A Wednesday in September: the longest weekday and month names in both languages.
        visited_at=datetime(2026, 9, 30, 15, 0, tzinfo=UTC),
        plan="sample",
    )


def check_templates(settings: Settings) -> tuple[list[CheckedTemplate], list[str]]:
    """Render every plan step on every channel it may use, in every patient language,
    and every answer; return what was rendered and the problems found."""
    renderer = Renderer(settings.templates_dir)
    problems = _syntax_problems(renderer, settings.templates_dir)
    problems += language_problems(renderer.environment, settings.templates_dir)
    checked: list[CheckedTemplate] = []
    contexts = {}
    for language in LANGUAGES:
        context = message_context(
            patient=sample_patient(settings, language), visit=sample_visit(), settings=settings
        )
        context["answers"] = Links(settings).answer_urls(0)
        contexts[language] = context
        for plan in list_plans(settings.plans_dir):
            for step in plan.steps:
                channels = list(Channel) if step.channel == PREFERRED else [Channel(step.channel)]
                for channel in channels:
                    where = f"plan {plan.name}, step {step.key}, {channel.value} ({language})"
                    try:
                        item = _render_step(renderer, plan.name, step, channel, language, context)
                    except FollowupError as exc:
                        problems.append(f"{where}: {exc}")
                        continue
                    checked.append(item)
                    problems += _message_problems(where, item, settings)
                problems += _source_problems(settings.templates_dir, step.template)
    library, _, found = library_problems(settings)
    problems += found
    renders, found = dependent_renders(renderer, settings, library, contexts)
    problems += page_problems(renderer, settings, library)[1]
    problems += found + _source_problems(settings.templates_dir, APPOINTMENT_TEMPLATE)
    for rendered in renders:
        where = f"{rendered.name}, {rendered.channel.value} ({rendered.language})"
        shape = sms_shape(rendered.text) if rendered.channel is Channel.SMS else None
        item = CheckedTemplate(
            "visit",
            rendered.name,
            rendered.channel,
            rendered.language,
            rendered.subject or rendered.text,
            _grade(rendered.text, rendered.language),
            shape.encoding if shape else "",
            shape.segments if shape else 0,
        )
        checked.append(item)
        problems += _message_problems(where, item, settings)
    problems += _answer_problems(renderer, settings, checked)
    problems += _staff_problems(renderer, settings)
    return checked, sorted(set(problems))


def _render_step(
    renderer: Renderer,
    plan: str,
    step: Step,
    channel: Channel,
    language: str,
    context: dict[str, Any],
) -> CheckedTemplate:
    if channel is Channel.SMS:
        text = renderer.sms(step.template, language, context)
        shape = sms_shape(text)
        grade = _grade(text, language)
        return CheckedTemplate(
            plan, step.key, channel, language, text, grade, shape.encoding, shape.segments
        )
    email = renderer.email(step.template, language, context)
    grade = _grade(email.text, language)
    return CheckedTemplate(plan, step.key, channel, language, email.subject, grade)


def _grade(text: str, language: str) -> float:
    # A long name tests the segment budget; it is not hard reading: read with a short one.
    return reading_level(text.replace(SAMPLE_NAME, "Ana"), language).grade


def _message_problems(where: str, item: CheckedTemplate, settings: Settings) -> list[str]:
    """A plan message breaking a rule: an SMS too long, not GSM-7 or naming a diagnosis,
    an email subject with health detail."""
    clinic = settings.clinic_name.lower()
    if item.channel is Channel.EMAIL:
        return _terms(where, "subject", item.preview.lower().replace(clinic, ""), SUBJECT_TERMS)
    problems = _terms(where, "SMS", item.preview.lower().replace(clinic, ""), DIAGNOSIS_TERMS)
    if item.segments > MAX_SMS_SEGMENTS or item.encoding != "GSM-7":
        problems.append(f"{where}: {item.segments} segments ({item.encoding})")
    return problems


def _answer_problems(
    renderer: Renderer, settings: Settings, checked: list[CheckedTemplate]
) -> list[str]:
    problems = []
    for language in LANGUAGES:
        for name in ANSWERS:
            for variant, facts in answer_variants(name, language, settings):
                where = f"answer {name!r} ({language}{variant})"
                try:
                    text = renderer.answer(name, language, settings, facts)
                except FollowupError as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                shape = sms_shape(text)
                step = f"{name}{variant.replace(', ', '-')}"
                grade = _grade(text, language)
                item = CheckedTemplate(
                    "answers",
                    step,
                    Channel.SMS,
                    language,
                    text,
                    grade,
                    shape.encoding,
                    shape.segments,
                )
                checked.append(item)
                longest = SAFETY_ANSWER_SEGMENTS if name in SAFETY_ANSWERS else MAX_SMS_SEGMENTS
                if shape.segments > longest or shape.encoding != "GSM-7":
                    problems.append(f"{where}: {shape.segments} segments ({shape.encoding})")
    return problems


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


def reading_table(checked: list[CheckedTemplate]) -> list[str]:
    """The reading levels as lines of a table: one row per message and language (the
    hardest of an answer's variants), with its goal."""
    grades: dict[tuple[str, Channel, str], float] = {}
    for item in checked:
        step = item.step.split("-alerted")[0].split("-nobody")[0]
        key = (f"{item.plan}/{step}", item.channel, item.language)
        grades[key] = max(grades.get(key, 0.0), item.grade)
    lines = [
        "Reading level (US school grade; English: Flesch-Kincaid, Spanish: "
        "Fernandez-Huerta ease read as a grade)",
        f"  {'message':<32} {'channel':<7} {'lang':<4} {'grade':>5}  goal",
    ]
    for (name, channel, language), grade in grades.items():
        goal = GRADE_GOAL[channel]
        mark = "ok" if grade <= goal else "OVER"
        lines.append(
            f"  {name:<32} {channel.value:<7} {language:<4} {grade:>5.1f}  <= {goal:g} {mark}"
        )
    return lines


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


pass_runtime = click.make_pass_decorator(LazyRuntime)


@click.command()
@pass_runtime
def check(lazy: LazyRuntime) -> None:
    """Render every plan template with sample data and check the messaging rules."""
    checked, problems = check_templates(lazy.get().settings)
    for item in checked:
        shape = f"  {item.encoding}, {item.segments} segment(s)" if item.encoding else ""
        click.echo(f"ok  {item.name}{shape}")
    click.echo("\n" + "\n".join(reading_table(checked)) + "\n")
    settings = lazy.get().settings
    library, library_table, _ = library_problems(settings)
    pages = page_problems(Renderer(settings.templates_dir), settings, library)[0]
    click.echo("\n".join(library_table + [""] + pages) + "\n")
    for warning in route_warnings(lazy.get().settings):
        click.echo(f"WARN {warning}", err=True)
    for item in checked:
        if item.over_goal:
            click.echo(f"WARN {item.name}: reading grade {item.grade:.1f} is over the goal")
    for problem in problems:
        click.echo(f"FAIL {problem}", err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} template problem(s)")
    click.echo(f"{len(checked)} renders checked, all templates fine")
