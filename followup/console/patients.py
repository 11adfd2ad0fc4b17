"""Patients: their details (corrected by staff), consent and its history (changed on
their documented request, recorded), visits, the plan's messages and their states, the series paused
or resumed, a pain chart; and the conversation, where staff answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.consent import consent_standing
from followup.care.patients import change_details, get_patient, record_consent
from followup.care.series import pause_in_force, pause_series, resume_series
from followup.config import Settings
from followup.console.chart import Score, pain_chart
from followup.console.programmes import programme_view
from followup.console.sessions import SignedIn
from followup.console.web import (
    Needs,
    audit_change,
    audit_view,
    page,
    runtime_of,
    see_other,
)
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import Channel, utcnow
from followup.models.care import Consent, ConsentEvent, Patient, Visit
from followup.models.outbox import Message, Purpose
from followup.models.replies import Reply
from followup.plain_text import plain
from followup.replies.conversations import (
    ANSWER_EXPIRES,
    Entry,
    queue_answer,
    same_answer_waiting,
    thread,
)
from followup.schedule import into_sending_window
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeesPatients = Annotated[SignedIn, Depends(Needs(Ability.SEE_PATIENTS))]
CaresForPatients = Annotated[SignedIn, Depends(Needs(Ability.CARE_FOR_PATIENTS))]
# What staff may change: care and campaign consent (alerts and answers need none).
ConsentPurpose = Literal[Purpose.CARE, Purpose.CAMPAIGN]
DETAILS_CORRECTED = "name, contacts or date of birth corrected"


@router.get("/patients/{ref}", response_class=HTMLResponse)
def patient_page(ref: str, request: Request, who: SeesPatients) -> HTMLResponse:
    now = utcnow()
    with runtime_of(request).sessions() as session:
        patient = get_patient(session, ref)
        consents = session.scalars(select(Consent).where(Consent.patient_id == patient.id)).all()
        standings = {
            (c.channel, c.purpose): consent_standing(
                session, patient.id, Channel(c.channel), Purpose(c.purpose)
            )
            for c in consents
        }
        history = session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.patient_id == patient.id)
            .order_by(ConsentEvent.at.desc())
        ).all()
        visits = session.scalars(
            select(Visit).where(Visit.patient_id == patient.id).order_by(Visit.visited_at)
        ).all()
        messages = session.scalars(
            select(Message)
            .where(Message.patient_id == patient.id, Message.purpose != Purpose.ALERT)
            .order_by(Message.due_at)
        ).all()
        pause = pause_in_force(session, patient.id, now)
        scores = pain_scores(session, patient.id) if who.can(Ability.READ_PAIN) else None
        programme = programme_view(session, patient, runtime_of(request).settings)
        chart = None
        if scores is not None:
            zone = ZoneInfo(runtime_of(request).settings.clinic_timezone)
            chart = pain_chart(
                scores, [v.visited_at for v in visits if v.cancelled_at is None], zone
            )
    audit_view(request, who, "read-patient", f"patient {ref}", patient_id=patient.id)
    return page(
        request,
        "patient.html",
        who,
        patient=patient,
        consents=consents,
        standings=standings,
        history=history,
        visits=visits,
        messages=messages,
        pause=pause,
        programme=programme,
        chart=chart,
        scores=scores,
        channels=list(Channel),
        purposes=[Purpose.CARE, Purpose.CAMPAIGN],
    )


def pain_scores(session: Session, patient_id: int) -> list[Score]:
    """The patient's pain scores, oldest first."""
    rows = session.execute(
        select(Reply.received_at, Reply.pain)
        .where(Reply.patient_id == patient_id, Reply.pain.is_not(None))
        .order_by(Reply.received_at)
    ).all()
    return [Score(at, pain) for at, pain in rows if pain is not None]


@router.post("/patients/{ref}/consent", response_class=HTMLResponse)
def change_consent(
    ref: str,
    request: Request,
    who: CaresForPatients,
    channel: Annotated[Channel, Form()],
    purpose: Annotated[ConsentPurpose, Form()],
    granted: Literal["yes", "no"] = Form(...),
    reason: str = Form("", max_length=300),
) -> HTMLResponse:
    if not reason.strip():
        raise InvalidInput("say how the patient asked (their documented request)")
    with transaction(runtime_of(request).sessions) as session:
        patient = get_patient(session, ref)
        source = f"staff: {plain(reason.strip(), 'the reason')}"[:40]
        record_consent(
            session,
            patient,
            channel=channel,
            purpose=Purpose(purpose),
            granted=granted == "yes",
            source=source,
            by=who.name,
        )
        change = f"{channel} {purpose} {'granted' if granted == 'yes' else 'revoked'}"
        audit_change(
            request, session, who.name, "consent-change", f"patient {ref}: {change}", patient.id
        )
    return see_other(f"/console/patients/{ref}")


@router.post("/patients/{ref}/details", response_class=HTMLResponse)
def details(
    ref: str,
    request: Request,
    who: CaresForPatients,
    first_name: str = Form("", max_length=100),
    last_name: str = Form("", max_length=100),
    phone: str = Form("", max_length=40),
    email: str = Form("", max_length=320),
    date_of_birth: str = Form("", max_length=20),
) -> HTMLResponse:
    """Correct the patient's name, contacts or date of birth (a bad one: nothing changes)."""
    with transaction(runtime_of(request).sessions) as session:
        patient = get_patient(session, ref)
        change_details(
            session,
            patient,
            first_name=plain(first_name, "the first name"),
            last_name=plain(last_name, "the last name"),
            phone=phone,
            email=email,
            date_of_birth=date_of_birth,
        )
        audit_change(request, session, who.name, "patient-details", DETAILS_CORRECTED, patient.id)
    return see_other(f"/console/patients/{ref}")


@router.post("/patients/{ref}/series", response_class=HTMLResponse)
def series(
    ref: str,
    request: Request,
    who: CaresForPatients,
    action: Literal["pause", "resume"] = Form(...),
    reason: str = Form("", max_length=300),
) -> HTMLResponse:
    runtime = runtime_of(request)
    if not reason.strip():
        raise InvalidInput("give a reason")
    with transaction(runtime.sessions) as session:
        patient = get_patient(session, ref)
        if action == "pause":
            pause_series(
                session,
                [(patient.id, reason)],
                by=who.name,
                now=utcnow(),
                settings=runtime.settings,
            )
        else:
            resume_series(session, patient_id=patient.id, by=who.name, reason=reason, now=utcnow())
    return see_other(f"/console/patients/{ref}")


@router.get("/patients/{ref}/conversation", response_class=HTMLResponse)
def conversation(
    ref: str,
    request: Request,
    who: SeesPatients,
    sent: int = Query(0, ge=0, le=2_147_483_647),
) -> HTMLResponse:
    return _conversation(request, who, ref, sent=sent)


def _conversation(
    request: Request, who: SignedIn, ref: str, *, sent: int = 0, status: int = 200, **extra: Any
) -> HTMLResponse:
    """The conversation page; `sent` names the answer just queued, confirmed on top."""
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        patient = get_patient(session, ref)
        entries = thread(session, patient.id)
        just_sent = session.get(Message, sent) if sent else None
        if just_sent is not None and just_sent.patient_id != patient.id:
            just_sent = None
    audit_view(request, who, "read-conversation", f"patient {ref}", patient_id=patient.id)
    now = utcnow()
    return page(
        request,
        "conversation.html",
        who,
        status=status,
        patient=patient,
        entries=entries,
        goes_out=lambda e: goes_out(e, patient, runtime.settings, now),
        just_sent=just_sent,
        **extra,
    )


def goes_out(entry: Entry, patient: Patient, settings: Settings, now: datetime) -> datetime:
    """When a waiting answer will go: now, or when the patient's quiet hours end."""
    due = max(entry.at, now)
    if entry.channel != Channel.SMS or entry.ignore_quiet_hours:
        return due
    zone = ZoneInfo(patient.timezone)
    return into_sending_window(
        due, zone=zone, start=settings.quiet_hours_start, end=settings.quiet_hours_end
    )


@router.post("/patients/{ref}/answer", response_class=HTMLResponse)
def answer(
    ref: str,
    request: Request,
    who: CaresForPatients,
    channel: Annotated[Channel, Form()],
    text: str = Form("", max_length=2000),
    call_back: Literal["", "yes"] = Form(""),
    again: Literal["", "yes"] = Form(""),
) -> HTMLResponse:
    runtime = runtime_of(request)
    now = utcnow()
    with transaction(runtime.sessions) as session:
        patient = get_patient(session, ref)
        earlier = same_answer_waiting(
            session,
            patient=patient,
            channel=channel,
            text=text,
            since=now - ANSWER_EXPIRES,
        )
        if earlier is not None and again != "yes":
            repeat = {"text": text, "channel": channel, "call_back": call_back, "earlier": earlier}
            session.expunge(earlier)
        else:
            repeat = None
            queued = queue_answer(
                session,
                patient=patient,
                channel=Channel(channel),
                text=text,
                by=who.name,
                role=who.role,
                safety_call_back=call_back == "yes",
                settings=runtime.settings,
                now=now,
            )
    if repeat is not None:
        # The same words are already on their way: ask before a second identical text.
        return _conversation(request, who, ref, status=409, repeat=repeat)
    return see_other(f"/console/patients/{ref}/conversation?sent={queued.id}")
