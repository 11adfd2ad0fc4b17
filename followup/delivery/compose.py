"""Composing a queued message: plan templates, campaign texts, staff alerts.

The dispatcher reads queued rows as plain rows (not ORM objects, it reads many) with
everything deciding and rendering them needs, in one statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, func, select

from followup.care.appointments import TEMPLATE as APPOINTMENT_TEMPLATE
from followup.care.measures import DISCHARGE_STEP, TIMEPOINT_OF_STEP
from followup.care.programs import PROGRAM_TEMPLATES, Assigned
from followup.care.series import held_back
from followup.config import Settings
from followup.content.campaign_text import CampaignText
from followup.content.links import Links
from followup.content.program_text import program_context
from followup.content.render import Renderer, appointment_words, message_context
from followup.delivery.channels import Outgoing
from followup.models.base import Channel, UTCDateTime
from followup.models.campaigns import Campaign
from followup.models.care import Consent, Patient, Visit
from followup.models.outbox import Message, MessageStatus, Purpose

QUEUED_ROWS = (
    select(
        Message.id,
        Message.channel,
        Message.purpose,
        Message.template,
        Message.expires_at,
        Message.recipient,
        Message.subject,
        Message.body,
        Message.campaign_id,
        Message.allow_repeat,
        Message.ignore_quiet_hours,
        Patient.id,
        # A notification about an unknown number has no patient: these never reach its
        # text (written when queued) and it ignores quiet hours.
        func.coalesce(Patient.first_name, "").label("first_name"),
        Patient.phone,
        Patient.email,
        func.coalesce(Patient.language, "en").label("language"),
        func.coalesce(Patient.timezone, "UTC").label("timezone"),
        Patient.discharged_at,
        Visit.visited_at,
        Visit.office,
        Visit.clinician,
        Consent.granted,
        # Bound at execution: {"now": ...}.
        held_back(bindparam("now", type_=UTCDateTime())).label("paused"),
        Message.episode_id,
        Visit.next_appointment_at,
        Message.step,
    )
    # Outer: a staff notification about an unknown number has no patient.
    .outerjoin(Patient, Message.patient_id == Patient.id)
    .outerjoin(Visit, Message.visit_id == Visit.id)
    .outerjoin(
        Consent,
        and_(
            Consent.patient_id == Message.patient_id,
            Consent.channel == Message.channel,
            # A staff answer is care: it needs the patient's care consent.
            Consent.purpose
            == case((Message.purpose == Purpose.ANSWER, Purpose.CARE.value), else_=Message.purpose),
        ),
    )
    .where(Message.status == MessageStatus.QUEUED)
)


class QueuedRow(NamedTuple):
    """A queued message with what deciding and rendering it needs."""

    id: int
    channel: str
    purpose: str
    template: str
    expires_at: datetime
    recipient: str | None  # set in advance only for staff alerts
    subject: str | None
    body: str | None
    campaign_id: int | None
    allow_repeat: bool
    ignore_quiet_hours: bool
    patient_id: int | None  # None only for a staff notification about an unknown number
    first_name: str
    phone: str | None
    email: str | None
    language: str
    timezone: str
    discharged_at: datetime | None
    visited_at: datetime | None
    office: str | None
    clinician: str | None
    consented: bool | None
    paused: bool  # the patient's series is paused (see followup.care.series)
    episode_id: int | None
    next_appointment_at: datetime | None
    step: str | None

    def visit(self) -> VisitRow | None:
        if self.visited_at is None or self.office is None or self.clinician is None:
            return None
        return VisitRow(self.visited_at, self.office, self.clinician)


class VisitRow(NamedTuple):
    visited_at: datetime
    office: str
    clinician: str


class Composer:
    def __init__(self, *, renderer: Renderer, settings: Settings) -> None:
        self.renderer = renderer
        self.settings = settings
        self.links = Links(settings)

    def compose(
        self,
        row: QueuedRow,
        channel: Channel,
        to: str,
        campaign: Campaign | None,
        program: list[Assigned] | None = None,
    ) -> Outgoing:
        """The message exactly as it will be sent to `to`; `program` is the episode's
        home programme, named by the reminders of `PROGRAM_TEMPLATES`. The steps of
        `TIMEPOINT_OF_STEP` link to the outcome form in every episode."""
        if row.purpose in (Purpose.ALERT, Purpose.ANSWER):
            # Written when queued: an alert from the patient's reply, an answer by staff.
            return Outgoing(row.id, to, row.body or "", subject=row.subject)
        if campaign is not None:
            message = CampaignText(campaign, self.renderer, self.settings).render(
                channel, first_name=row.first_name, language=row.language
            )
            unsubscribe = self.links.unsubscribe_url(row.id) if channel is Channel.EMAIL else None
            return Outgoing(
                row.id,
                to,
                message.body,
                message.subject,
                message.html,
                unsubscribe,
                fingerprint=fingerprint(message.body, message.subject, [unsubscribe or ""]),
            )
        visit = row.visit()
        context = message_context(patient=row, visit=visit, settings=self.settings)
        own_links: list[str] = []
        if program and row.template in PROGRAM_TEMPLATES:
            context |= program_context(
                program,
                row.language,
                exercises_url=self.links.exercises_url(row.id),
                done_url=self.links.done_url(row.id),
            )
            own_links += [context["exercises_url"], context["done_url"]]
        timepoint = TIMEPOINT_OF_STEP.get(row.step or "")
        if row.step == DISCHARGE_STEP:
            timepoint = "discharge"
        if timepoint is not None and row.episode_id is not None:
            context["measures_url"] = self.links.measures_url(row.id)
            own_links.append(context["measures_url"])
        if row.next_appointment_at is not None:
            context["appointment"] = appointment_words(
                row.next_appointment_at, row.timezone, row.language
            )
        if channel is Channel.SMS:
            text = self.renderer.sms(row.template, row.language, context)
            return Outgoing(row.id, to, text, fingerprint=fingerprint(text, None, own_links))
        answers = self.links.answer_urls(row.id)
        unsubscribe = self.links.unsubscribe_url(row.id)
        context["answers"] = answers
        if row.template == APPOINTMENT_TEMPLATE:  # its one-tap C and R
            context["appointment_answers"] = self.links.appointment_urls(row.id)
            own_links += context["appointment_answers"].values()
        email = self.renderer.email(row.template, row.language, context)
        return Outgoing(
            row.id,
            to,
            email.text,
            subject=email.subject,
            html=email.html,
            unsubscribe_url=unsubscribe,
            fingerprint=fingerprint(email.text, email.subject, [*answers, unsubscribe, *own_links]),
        )


def fingerprint(text: str, subject: str | None, own_links: Iterable[str] = ()) -> str:
    """Equal for two messages a patient would read as the same: subject and text, less
    the links that are this message's own (signed per message, so always different)."""
    for link in own_links:
        if link:
            text = text.replace(link, "")
    return hashlib.sha256(f"{subject or ''}\x00{text}".encode()).hexdigest()
