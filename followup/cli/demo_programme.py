"""The demo's patient with home exercises: Sam's therapist assigns a bridge and a
daily walk; Sam answers the exercise reminder with DONE, fills the activity form
(PSFS) at intake and again with the four-week check-in, and the change shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.measures import PSFS_MCID, measure_form, record_measures
from followup.care.patients import PatientDetails, get_patient, record_consents, save_patient
from followup.care.programs import parse_program, program_code
from followup.care.visits import record_visit
from followup.db import transaction
from followup.exceptions import NotFound
from followup.models.base import Channel
from followup.models.care import Office
from followup.models.outbox import Message, Purpose
from followup.models.programs import ExerciseReport, MeasureResponse
from followup.replies.inbound_sms import InboundSms, receive_sms
from followup.runtime import Runtime

REF, PHONE = "P-1006", "+12015550106"
PROGRAMME = "bridge:2x10,walk:15min"
ACTIVITIES = ["walking to work", "lifting groceries", "sitting through a movie"]
Out = Callable[[str], object]


def enrol_sam(runtime: Runtime, visit_time: datetime, out: Out) -> None:
    settings = runtime.settings
    with transaction(runtime.sessions) as session:
        patient = save_patient(
            session,
            PatientDetails.parse(
                ref=REF,
                first_name="Sam",
                last_name="Torres",
                phone=PHONE,
                email="sam.torres@example.com",
                preferred_channel="sms",
                language="en",
                timezone="America/New_York",
            ),
        )
        record_consents(
            session,
            patient,
            {(Channel.SMS, Purpose.CARE): True, (Channel.EMAIL, Purpose.CARE): True},
            source="intake form",
            by="front desk",
            at=visit_time,
        )
        program = parse_program(PROGRAMME, settings.exercises_dir)
        record = record_visit(
            session,
            settings=settings,
            ref=f"V-{REF}",
            patient=patient,
            office=Office.HOBOKEN,
            clinician="Dr. Patel",
            visited_at=visit_time,
            tags="lower-back",
            exercises=program,
            now=visit_time,
        )
    out(
        f"enrolled Sam Torres (New York, en), Hoboken: {record.messages_added} messages planned; "
        f"prefers sms -> {PHONE}; exercises {program_code(program)}"
    )


def sam_done_and_intake(runtime: Runtime, at: datetime, out: Out) -> None:
    """Sam texts DONE after the exercise reminder and fills the intake form from it."""
    with transaction(runtime.sessions) as session:
        receive_sms(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            messages=[InboundSms("SM-demo-sam-done", PHONE, "DONE")],
            now=at,
        )
        done = session.scalars(select(ExerciseReport)).all()
        mean = _fill(session, "keep-moving", [3, 4, 5], at)
    out(
        f"--- Sam replies DONE: recorded for {done[0].day:%a %b %d}; "
        f"and rates three daily tasks from the reminder's page: PSFS {mean:.1f} at intake\n"
    )


def sam_four_weeks(runtime: Runtime, at: datetime, out: Out) -> None:
    with transaction(runtime.sessions) as session:
        first = _fill(session, "keep-moving", [], at)
        later = _fill(session, "progress-4w", [6, 7, 8], at)
    reached = "reaches" if later - first >= PSFS_MCID else "does not reach"
    out(
        f"--- Sam fills the form from the four-week check-in: PSFS {first:.1f} -> {later:.1f} "
        f"({later - first:+.1f}, {reached} the {PSFS_MCID:g}-point minimal important change)\n"
    )


def _fill(session: Session, step: str, scores: list[int], at: datetime) -> float:
    """Fill (with no scores: only read) the form that Sam's message of `step` links to;
    returns its PSFS mean."""
    patient = get_patient(session, REF)
    message_id = session.scalar(
        select(Message.id).where(Message.patient_id == patient.id, Message.step == step)
    )
    form = measure_form(session, message_id or 0)
    if form is None:
        raise NotFound(f"no outcome form behind Sam's {step} message")
    if scores:
        record_measures(
            session,
            form,
            activities=ACTIVITIES,
            scores=[str(s) for s in scores],
            global_change=None,
            now=at,
        )
    response = session.scalar(
        select(MeasureResponse).where(
            MeasureResponse.episode_id == form.episode_id,
            MeasureResponse.timepoint == form.timepoint,
        )
    )
    return response.psfs_mean if response else 0.0
