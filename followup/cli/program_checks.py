"""What `followup check` reads beyond the plan steps: the exercise library (every file
valid, both languages, every step and caution at reading grade 6 or less), the
messages that depend on a visit's programme, appointment or outcome form, rendered
with the longest programme a text may name, an appointment and a form's link, and the
patient pages behind those links (reading grade 6 or less).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from followup.care.exercises import LANGUAGES, Dose, Exercise, parse_exercise
from followup.care.programs import MAX_EXERCISES, PROGRAM_TEMPLATES, Assigned
from followup.config import Settings
from followup.content.links import Links
from followup.content.program_text import exercise_items, program_context
from followup.content.readability import reading_level
from followup.content.render import Renderer, appointment_words
from followup.exceptions import FollowupError
from followup.models.base import Channel

LIBRARY_GRADE_GOAL = 6.0
# The patient pages behind a programme's links, read at the library's goal.
PAGES = (
    "exercises.html",
    "done-confirm.html",
    "done-thanks.html",
    "measures.html",
    "measures-thanks.html",
    "appointment-confirm.html",
    "appointment-thanks.html",
)
STYLE = re.compile(r"<style.*?</style>", re.DOTALL)


@dataclass(frozen=True)
class Rendered:
    name: str
    channel: Channel
    language: str
    text: str  # the SMS, or the email's text part
    subject: str = ""


def library_problems(settings: Settings) -> tuple[dict[str, Exercise], list[str], list[str]]:
    """(the library, a reading table of it, the problems found)."""
    library: dict[str, Exercise] = {}
    problems = []
    paths = sorted(settings.exercises_dir.glob("*.toml"))
    if not paths:
        problems.append(f"exercise library {settings.exercises_dir}: no exercise files")
    for path in paths:
        try:
            library[path.stem] = parse_exercise(path.stem, path.read_text(encoding="utf-8"))
        except FollowupError as exc:
            problems.append(str(exc))
    table = [
        f"Exercise library reading level (goal <= {LIBRARY_GRADE_GOAL:g})",
        f"  {'exercise':<32} {'lang':<4} {'grade':>5}",
    ]
    for key, exercise in library.items():
        for language in LANGUAGES:
            text = " ".join((*exercise.steps[language], *exercise.cautions[language]))
            grade = reading_level(text, language).grade
            mark = "ok" if grade <= LIBRARY_GRADE_GOAL else "OVER"
            table.append(f"  {key:<32} {language:<4} {grade:>5.1f}  {mark}")
            if grade > LIBRARY_GRADE_GOAL:
                problems.append(
                    f"exercise {key!r} ({language}): reading grade {grade:.1f} is over "
                    f"{LIBRARY_GRADE_GOAL:g}"
                )
    return library, table, problems


def longest_program(library: dict[str, Exercise], language: str) -> list[Assigned]:
    """The programme whose text is longest: the exercises with the longest short names,
    each at a twice-a-day dose (the longest way a dose is written)."""
    chosen = sorted(library.values(), key=lambda e: len(e.short[language]), reverse=True)
    return [Assigned(exercise, _twice_daily(exercise)) for exercise in chosen[:MAX_EXERCISES]]


def _twice_daily(exercise: Exercise) -> Dose:
    return replace(exercise.dose, daily=2)


def dependent_renders(
    renderer: Renderer,
    settings: Settings,
    library: dict[str, Exercise],
    contexts: dict[str, dict[str, Any]],
) -> tuple[list[Rendered], list[str]]:
    """The programme reminders with the longest programme, and the appointment reminder,
    on both channels in every language; `contexts` is each language's sample context."""
    links = Links(settings)
    renders: list[Rendered] = []
    problems: list[str] = []
    appointment = datetime(2026, 9, 30, 19, 30, tzinfo=UTC)
    for language, base in contexts.items():
        variants: list[tuple[str, dict[str, Any]]] = []
        if library:
            program = program_context(
                longest_program(library, language),
                language,
                exercises_url=links.exercises_url(2**31 - 1),
                done_url=links.done_url(2**31 - 1),
            )
            variants += [(f"{t}+exercises", base | program) for t in sorted(PROGRAM_TEMPLATES)]
            intake = {"measures_url": links.measures_url(2**31 - 1)}
            variants.append(("keep-moving+exercises+form", base | program | intake))
        when = appointment_words(appointment, settings.default_timezone, language)
        answers = {"appointment": when, "appointment_answers": links.appointment_urls(2**31 - 1)}
        variants.append(("appointment", base | answers))
        form = {"measures_url": links.measures_url(2**31 - 1)}
        variants += [(f"{t}+form", base | form) for t in ("keep-moving", "measures", "progress")]
        for name, context in variants:
            template = name.split("+")[0]
            try:
                sms = renderer.sms(template, language, context)
                email = renderer.email(template, language, context)
            except FollowupError as exc:
                problems.append(f"{name} ({language}): {exc}")
                continue
            renders.append(Rendered(name, Channel.SMS, language, sms))
            renders.append(Rendered(name, Channel.EMAIL, language, email.text, email.subject))
    return renders, problems


def page_problems(
    renderer: Renderer, settings: Settings, library: dict[str, Exercise]
) -> tuple[list[str], list[str]]:
    """(a reading table of the patient pages, the problems found): each page rendered
    in every language with the longest programme, a discharge form and its notice."""
    table = [f"Patient pages reading level (goal <= {LIBRARY_GRADE_GOAL:g})"]
    problems = []
    clinic = {"name": settings.clinic_name, "phone": settings.clinic_phone}
    for language in LANGUAGES:
        context = {
            "clinic": clinic,
            "first_name": "Ana",
            "exercises": exercise_items(longest_program(library, language), language),
            "done_url": "https://example.org/d/1",
            "measures_url": "https://example.org/m/1",
            "activities": ["", "", ""],
            "discharge": True,
            "changes": list(range(-7, 8)),
            "incomplete": True,
            # The appointment pages, as a request to reschedule answered tomorrow.
            "kind": "reschedule",
            "appointment": {"date": "Wednesday, September 30", "time": "7:30 PM"},
            "call_back": "tomorrow",
            "day": "Thursday",
            "opens": "8:00 AM",
            "closes": "6:00 PM",
        }
        for name in PAGES:
            try:
                html = renderer.page(name, language, context)
            except FollowupError as exc:
                problems.append(f"page {name} ({language}): {exc}")
                continue
            grade = reading_level(Markup(STYLE.sub(" ", html)).striptags(), language).grade
            mark = "ok" if grade <= LIBRARY_GRADE_GOAL else "OVER"
            table.append(f"  {name:<32} {language:<4} {grade:>5.1f}  {mark}")
            if grade > LIBRARY_GRADE_GOAL:
                problems.append(f"page {name} ({language}): reading grade {grade:.1f}")
    return table, problems
