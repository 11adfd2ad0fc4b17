"""Rendering plan templates: SMS text and email parts, strictly.

Templates live under `templates/sms/<language>/`, `templates/email/<language>/` and
`templates/web/<language>/`; every language has every template (`followup check`), and
English stands in should one be missing all the same. Every variable must be defined
(`StrictUndefined`); HTML is autoescaped. Every SMS ends with the opt-out line and is
kept to the GSM-7 alphabet. Dates are written in the patient's language (Babel).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton, format_time
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplatesNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from markupsafe import Markup

from followup.config import Settings
from followup.content.encoding import to_gsm7
from followup.exceptions import TemplateProblem
from followup.models.care import Office
from followup.plain_text import without_bidi_controls

# Answers to a patient's SMS, one template each under `sms/<lang>/answer-<name>.txt`.
ANSWERS = (
    "emergency",
    "emergency-doubt",
    "attention",
    "routine",
    "stop",
    "start",
    "help",
    "unsure",
    "unknown",
    # What a DONE, C or R recorded (followup.replies.program_answers).
    "done",
    "confirm",
    "reschedule",
)
# Answers kept rendered; a confirmation names its appointment, so they are not few.
ANSWERS_KEPT = 1024
OPT_OUT_LINE = {"en": "Reply STOP to opt out.", "es": "Responda STOP para no recibir mas."}
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _shown(value: Any) -> Any:
    """A value as a template writes it: bidi controls neutralised (followup.plain_text)."""
    if isinstance(value, Markup):
        return Markup(without_bidi_controls(str(value)))
    if isinstance(value, str):
        return without_bidi_controls(value)
    return value


class Renderer:
    def __init__(self, templates_dir: Path) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(templates_dir),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are read once per process; `followup check` builds its own.
            auto_reload=False,
            finalize=_shown,
        )
        self._answers: dict[tuple[Hashable, ...], str] = {}

    def sms(self, template: str, language: str, context: dict[str, Any]) -> str:
        return with_opt_out(self._render("sms", f"{template}.txt", language, context), language)

    def page(self, name: str, language: str, context: dict[str, Any]) -> str:
        """A page patients open from an email link (`web/<lang>/<name>`)."""
        return self._render("web", name, language, context)

    def email(self, template: str, language: str, context: dict[str, Any]) -> RenderedEmail:
        subject = self._render("email", f"{template}.subject.txt", language, context)
        return RenderedEmail(
            subject=" ".join(subject.split()),
            text=self._render("email", f"{template}.txt", language, context).strip() + "\n",
            html=self._render("email", f"{template}.html", language, context),
        )

    def answer(
        self,
        name: str,
        language: str,
        settings: Settings,
        facts: tuple[tuple[str, Hashable], ...] = (),
    ) -> str:
        """The SMS sent back in answer to a patient's reply (`sms/<lang>/answer-*.txt`).

        `facts` are what the answer may say beyond the clinic (whether staff were
        alerted, when they will call, the appointment confirmed). Each is rendered once
        (the latest `ANSWERS_KEPT` are kept)."""
        clinic = {"name": settings.clinic_name, "phone": settings.clinic_phone}
        key = (name, language, clinic["name"], clinic["phone"], facts)
        if key not in self._answers:
            context = {"clinic": clinic, **dict(facts)}
            text = self._render("sms", f"answer-{name}.txt", language, context)
            if len(self._answers) >= ANSWERS_KEPT:
                del self._answers[next(iter(self._answers))]  # the oldest
            self._answers[key] = to_gsm7(" ".join(text.split()))
        return self._answers[key]

    def staff(self, name: str, context: dict[str, Any]) -> str:
        """A notification to staff (`templates/staff/`), never sent to a patient."""
        return self._render_path(f"staff/{name}", context)

    def _render_path(self, path: str, context: dict[str, Any]) -> str:
        try:
            return self.environment.get_template(path).render(context)
        except TemplateNotFound:
            raise TemplateProblem(f"{path}: no such template") from None
        except UndefinedError as exc:
            raise TemplateProblem(f"{path}: {exc.message}") from None

    def _render(self, kind: str, name: str, language: str, context: dict[str, Any]) -> str:
        names = [f"{kind}/{language}/{name}", f"{kind}/{FALLBACK_LANGUAGE}/{name}"]
        try:
            template = self.environment.select_template(names)
            return template.render(context)
        except TemplatesNotFound:
            raise TemplateProblem(f"{names[-1]}: no such template") from None
        except UndefinedError as exc:
            raise TemplateProblem(f"{template.name}: {exc.message}") from None
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"{exc.name}: line {exc.lineno}: {exc.message}") from None


class PatientFacts(Protocol):
    @property
    def first_name(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def timezone(self) -> str: ...


class VisitFacts(Protocol):
    @property
    def visited_at(self) -> datetime: ...
    @property
    def office(self) -> str: ...
    @property
    def clinician(self) -> str: ...


def with_opt_out(text: str, language: str) -> str:
    """One line of GSM-7 SMS text, ending with the opt-out line in the patient's
    language (an accent outside GSM-7, in a name or a date, would double the cost)."""
    opt_out = OPT_OUT_LINE.get(language, OPT_OUT_LINE[FALLBACK_LANGUAGE])
    return to_gsm7(" ".join(text.split()) + " " + opt_out)


def message_context(
    *, patient: PatientFacts, visit: VisitFacts | None, settings: Settings
) -> dict[str, Any]:
    """The variables every plan template may use; no diagnosis or visit tags on purpose."""
    context: dict[str, Any] = {
        "patient": {"first_name": patient.first_name},
        "clinic": {"name": settings.clinic_name, "phone": settings.clinic_phone},
        # The home programme, when the episode has one (`followup.content.program_text`).
        "exercises": [],
        "exercises_url": "",
        "done_url": "",
        # The outcome form of a measures step (`followup.care.measures`).
        "measures_url": "",
    }
    if visit is not None:
        local = visit.visited_at.astimezone(ZoneInfo(patient.timezone))
        context["visit"] = {
            "office": Office(visit.office).label,
            "clinician": visit.clinician,
            "date": long_date(local, patient.language),
        }
    return context


def appointment_words(moment: datetime, timezone: str, language: str) -> dict[str, str]:
    """An appointment's day and time as the patient reads them ('3:30 PM' / '15:30')."""
    local = moment.astimezone(ZoneInfo(timezone))
    return {
        "date": long_date(local, language),
        "time": format_time(local, "short", locale="en_US" if language == "en" else language),
    }


def long_date(moment: datetime, language: str) -> str:
    """'Monday, November 16' / 'lunes, 16 de noviembre': the weekday in full, no year."""
    weekday = format_date(moment, "EEEE", locale=language)
    return f"{weekday}, {format_skeleton('MMMMd', moment, locale=language)}"
