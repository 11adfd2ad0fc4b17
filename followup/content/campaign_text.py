"""A campaign's message: a template from templates/, or text staff wrote per language.

Staff write a text per patient language (`LanguageText`: the SMS, the email's subject
and text). A patient whose language has none gets another language's text or is
skipped, as staff chose for the campaign (`FALLBACK`, `SKIP`); the launch records each
skipped one with the reason.

Staff-written text is rendered in the bounded sandbox (`followup.content.sandbox`) with
`StrictUndefined`. It is checked when the campaign is saved, every branch of it (see
`followup.content.template_scan`) and a sample render: a mistake in how it is written
(`followup.content.template_mistakes`: an unclosed `{{`, an unknown filter, a stray
brace), a field that does not exist or cannot be printed, an unsafe expression, work
over the sandbox's limits, a diagnosis in an SMS or health detail in a subject, a text
that renders as nothing is refused before anything is sent, naming the language and
the part (SMS, email subject or text) in words staff use. What only a real
patient's data sets off is refused when that message is rendered: a failed message at
dispatch, a refusal at preview or test send, with the reason.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from typing import Any

from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError

from followup.care.patients import LANGUAGES
from followup.care.plans import PREFERRED
from followup.config import Settings
from followup.content import sandbox
from followup.content.campaign_fields import explain_engine, wrong_field
from followup.content.encoding import sms_shape
from followup.content.minimum_necessary import DIAGNOSIS_TERMS, SUBJECT_TERMS, health_terms
from followup.content.render import Renderer, with_opt_out
from followup.content.template_mistakes import read, stray_brace
from followup.content.template_scan import literal_text, over_limits
from followup.exceptions import InvalidInput, TemplateProblem
from followup.models.base import Channel
from followup.models.campaigns import Campaign

MAX_SMS_SEGMENTS = 2
# What happens to a patient whose language has no text: another language's text is
# sent (the first of `LANGUAGES` that has one), or they are skipped with the reason.
FALLBACK, SKIP = "fallback", "skip"
MISSING_CHOICES = (FALLBACK, SKIP)
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}


@dataclass(frozen=True)
class LanguageText:
    """What staff wrote in one language: the SMS, and the email's subject and text."""

    sms: str | None = None
    subject: str | None = None
    email: str | None = None

    def given(self) -> bool:
        return any((self.sms, self.subject, self.email))


def load_texts(raw: str) -> dict[str, LanguageText]:
    return {language: LanguageText(**parts) for language, parts in json.loads(raw).items()}


def dump_texts(texts: dict[str, LanguageText]) -> str:
    return json.dumps({k: asdict(v) for k, v in sorted(texts.items())}, sort_keys=True)


@dataclass(frozen=True)
class Part:
    """A part of a message staff write, and the words it may not hold."""

    name: str
    terms: tuple[str, ...] = ()
    kept_from: str = ""  # where health details are kept out of, for the refusal


SMS_TEXT = Part("SMS text", DIAGNOSIS_TERMS, "texts")
EMAIL_SUBJECT = Part("email subject", SUBJECT_TERMS, "subjects")
EMAIL_TEXT = Part("email text")


@dataclass(frozen=True)
class CampaignMessage:
    body: str
    subject: str | None = None
    html: str | None = None


class CampaignText:
    def __init__(self, campaign: Campaign, renderer: Renderer, settings: Settings) -> None:
        self.campaign = campaign
        self.renderer = renderer
        self.clinic = {"name": settings.clinic_name, "phone": settings.clinic_phone}
        self.texts = load_texts(campaign.texts or "{}")

    def language_for(self, language: str) -> str | None:
        """The language of the text a patient speaking `language` gets; None: skipped."""
        if self.campaign.template or language in self.texts:
            return language
        if self.campaign.missing_text == SKIP:
            return None
        return next((known for known in LANGUAGES if known in self.texts), None)

    def render(self, channel: Channel, *, first_name: str, language: str) -> CampaignMessage:
        """The message for one patient; one that does not render raises `TemplateProblem`."""
        context: dict[str, Any] = {"patient": {"first_name": first_name}, "clinic": self.clinic}
        c = self.campaign
        if c.template:
            if channel is Channel.SMS:
                return CampaignMessage(self.renderer.sms(c.template, language, context))
            email = self.renderer.email(c.template, language, context)
            return CampaignMessage(email.text, email.subject, email.html)
        written = self.language_for(language)
        if written is None:
            raise TemplateProblem(
                f"the campaign has no {language_name(language)} text and skips them"
            )
        parts = self.texts[written]
        if channel is Channel.SMS:
            return CampaignMessage(
                with_opt_out(_render(parts.sms or "", context, SMS_TEXT, written), written)
            )
        text = _render(parts.email or "", context, EMAIL_TEXT, written).strip() + "\n"
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        subject = _render(parts.subject or "", context, EMAIL_SUBJECT, written)
        return CampaignMessage(text, " ".join(subject.split()), paragraphs)

    def sample(self, channel: Channel, *, first_name: str, language: str) -> CampaignMessage:
        """`render` for staff (saving, preview, test send): a refusal is theirs to fix."""
        try:
            return self.render(channel, first_name=first_name, language=language)
        except TemplateProblem as exc:
            if self.campaign.template:
                raise InvalidInput(f"the {channel.value} message does not render: {exc}") from None
            raise InvalidInput(str(exc)) from None


def validate_texts(campaign: Campaign, renderer: Renderer, settings: Settings) -> None:
    """Refuse, with a clear message, a campaign message that could not go out as meant."""
    texts = load_texts(campaign.texts or "{}")
    if bool(campaign.template) == bool(texts):
        raise InvalidInput("give either --template or the message text, not both or neither")
    if campaign.missing_text not in MISSING_CHOICES:
        raise InvalidInput(
            f"a patient without a text in their language: choose {' or '.join(MISSING_CHOICES)}"
        )
    channels = (
        [Channel.SMS, Channel.EMAIL]
        if campaign.channel == PREFERRED
        else [Channel(campaign.channel)]
    )
    clinic = settings.clinic_name
    for language, parts in texts.items():
        if language not in LANGUAGES:
            raise InvalidInput(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        for channel in channels:
            checked = (
                [(SMS_TEXT, parts.sms)]
                if channel is Channel.SMS
                else [(EMAIL_SUBJECT, parts.subject), (EMAIL_TEXT, parts.email)]
            )
            if not all(source for _, source in checked):
                missing = (
                    "the text message" if channel is Channel.SMS else "an email subject and text"
                )
                raise InvalidInput(
                    f"the {language_name(language)} {channel.value} campaign needs {missing}"
                )
            for part, source in checked:
                _check_every_branch(source or "", part, clinic, language)
    text = CampaignText(campaign, renderer, settings)
    for language in texts or ["en"]:
        for channel in channels:
            sample = text.sample(channel, first_name="Maximiliana-Josefina", language=language)
            if channel is Channel.SMS:
                shape = sms_shape(sample.body)
                if shape.segments > MAX_SMS_SEGMENTS:
                    raise InvalidInput(
                        f"the {language_name(language)} SMS is {shape.segments} segments "
                        f"({shape.encoding}); keep it to 2"
                    )
                _refuse_terms(sample.body, SMS_TEXT, clinic, language)
            else:
                _refuse_terms(sample.subject or "", EMAIL_SUBJECT, clinic, language)


def _check_every_branch(source: str, part: Part, clinic: str, language: str) -> None:
    where = f"the {language_name(language)} {part.name}"
    try:
        parsed, undeclared = read(source)
    except TemplateProblem as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    mistake = wrong_field(parsed, undeclared) or stray_brace(source)
    if mistake:
        raise InvalidInput(f"{where}: {mistake}")
    _refuse_terms(literal_text(parsed), part, clinic, language)
    problem = over_limits(parsed)
    if problem:
        raise InvalidInput(f"{where} is refused: {problem}")


def _refuse_terms(text: str, part: Part, clinic: str, language: str) -> None:
    found = health_terms(text.lower().replace(clinic.lower(), ""), part.terms) if part.terms else []
    if found:
        raise InvalidInput(
            f"the {language_name(language)} {part.name} mentions {', '.join(found)}: "
            f"keep health details out of {part.kept_from}"
        )


def _render(source: str, context: dict[str, Any], part: Part, language: str) -> str:
    """One part of one patient's message; one that does not render, or renders as
    nothing but spaces, raises `TemplateProblem` naming the part and its language."""
    where = f"the {language_name(language)} {part.name}"
    try:
        rendered = sandbox.render(source, context)
    except TemplateProblem as exc:
        reason = str(exc)
    except SecurityError as exc:
        reason = f"unsafe expression refused: {exc}"
    except UndefinedError as exc:
        reason = explain_engine(exc.message or "")
    except RecursionError:
        reason = "a macro calls itself without end"
    except Exception as exc:
        # Staff text can raise whatever Python raises (a TemplateError, 1/0, int("x")):
        # all of it is the text's fault, to report, not to crash on.
        reason = str(exc) or type(exc).__name__
    else:
        if rendered.strip():
            return rendered
        raise TemplateProblem(f"{where} is empty")
    raise TemplateProblem(f"{where}: {reason}")


def language_name(language: str) -> str:
    return LANGUAGE_NAMES.get(language, language)
