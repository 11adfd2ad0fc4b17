"""A campaign's message: a template from templates/, or text staff wrote.

Staff-written text is stored and rendered in Jinja2's `SandboxedEnvironment` with
`StrictUndefined`; it is checked when the campaign is saved, so an unknown variable, an
unsafe expression, a diagnosis in an SMS or health detail in a subject is refused
with a clear message before anything is sent.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from followup.config import Settings
from followup.encoding import sms_shape
from followup.exceptions import FollowupError, InvalidInput
from followup.minimum_necessary import DIAGNOSIS_TERMS, SUBJECT_TERMS, health_terms
from followup.models import Campaign, Channel
from followup.plans import PREFERRED
from followup.render import Renderer, with_opt_out

VARIABLES = frozenset({"patient", "clinic"})
MAX_SMS_SEGMENTS = 2
_sandbox = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


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

    def render(self, channel: Channel, *, first_name: str, language: str) -> CampaignMessage:
        context: dict[str, Any] = {"patient": {"first_name": first_name}, "clinic": self.clinic}
        c = self.campaign
        if c.template:
            if channel is Channel.SMS:
                return CampaignMessage(self.renderer.sms(c.template, language, context))
            email = self.renderer.email(c.template, language, context)
            return CampaignMessage(email.text, email.subject, email.html)
        if channel is Channel.SMS:
            return CampaignMessage(with_opt_out(_render(c.sms_text or "", context), language))
        text = _render(c.email_text or "", context).strip() + "\n"
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        return CampaignMessage(
            text, " ".join(_render(c.email_subject or "", context).split()), paragraphs
        )


def validate_texts(campaign: Campaign, renderer: Renderer, settings: Settings) -> None:
    """Refuse, with a clear message, a campaign message that could not go out as meant."""
    staff_text = any((campaign.sms_text, campaign.email_subject, campaign.email_text))
    if bool(campaign.template) == staff_text:
        raise InvalidInput("give either --template or the message text, not both or neither")
    channels = (
        [Channel.SMS, Channel.EMAIL]
        if campaign.channel == PREFERRED
        else [Channel(campaign.channel)]
    )
    if not campaign.template:
        for channel in channels:
            parts = (
                [campaign.sms_text]
                if channel is Channel.SMS
                else [campaign.email_subject, campaign.email_text]
            )
            if not all(parts):
                missing = (
                    "--sms-text" if channel is Channel.SMS else "--email-subject and --email-text"
                )
                raise InvalidInput(f"a {channel.value} campaign needs {missing}")
            for part in parts:
                _check_sandboxed(part or "")
    text = CampaignText(campaign, renderer, settings)
    for channel in channels:
        try:
            sample = text.render(channel, first_name="Maximiliana-Josefina", language="en")
        except FollowupError as exc:
            raise InvalidInput(f"the {channel.value} message does not render: {exc}") from None
        if channel is Channel.SMS:
            shape = sms_shape(sample.body)
            if shape.segments > MAX_SMS_SEGMENTS:
                raise InvalidInput(
                    f"the SMS is {shape.segments} segments ({shape.encoding}); keep it to 2"
                )
            found = health_terms(
                sample.body.lower().replace(settings.clinic_name.lower(), ""), DIAGNOSIS_TERMS
            )
            if found:
                raise InvalidInput(
                    f"the SMS mentions {', '.join(found)}: keep health details out of texts"
                )
        else:
            subject = (sample.subject or "").lower().replace(settings.clinic_name.lower(), "")
            found = health_terms(subject, SUBJECT_TERMS)
            if found:
                raise InvalidInput(
                    f"the subject mentions {', '.join(found)}: keep health details out of subjects"
                )


def _check_sandboxed(source: str) -> None:
    try:
        parsed = _sandbox.parse(source)
    except TemplateError as exc:
        raise InvalidInput(f"the message is not a valid template: {exc}") from None
    unknown = meta.find_undeclared_variables(parsed) - VARIABLES
    if unknown:
        names = ", ".join(sorted(unknown))
        raise InvalidInput(
            f"unknown variable(s) {names}; use patient.first_name, clinic.name, clinic.phone"
        )


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """Compiling is the slow part of rendering; a campaign's text compiles once."""
    return _sandbox.from_string(source)


def _render(source: str, context: dict[str, Any]) -> str:
    try:
        return _compiled(source).render(context)
    except SecurityError as exc:
        raise InvalidInput(f"unsafe expression refused: {exc}") from None
    except UndefinedError as exc:
        raise InvalidInput(f"unknown variable: {exc.message}") from None
    except TemplateError as exc:
        raise InvalidInput(f"the message does not render: {exc}") from None
