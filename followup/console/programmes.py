"""Home programmes in the console: the exercises on a patient's page (current, history,
and a form to assign a visit's), and the "needs a nudge" worklist of patients who
stopped answering DONE."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.adherence import adherence, needs_a_nudge
from followup.care.exercises import load_library
from followup.care.patients import get_patient
from followup.care.programs import (
    assign_program,
    current_programs,
    parse_program,
    program_code,
    program_history,
)
from followup.config import Settings
from followup.console.paging import Cursor, Key, Paging
from followup.console.sessions import SignedIn
from followup.console.web import Needs, audit_view, page, runtime_of, see_other
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.care import Episode, Patient, Visit
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeesPatients = Annotated[SignedIn, Depends(Needs(Ability.SEE_PATIENTS))]
Assigns = Annotated[SignedIn, Depends(Needs(Ability.ASSIGN_EXERCISES))]
# The longest silent first (as `needs_a_nudge` sorts them), then by reference.
NUDGES = Paging("nudges", [Key(None, int, descending=True), Key(Patient.ref, str)])


def programme_view(session: Session, patient: Patient, settings: Settings) -> dict[str, Any]:
    """What the patient page shows of the programme."""
    episode = session.scalar(
        select(Episode.id)
        .where(Episode.patient_id == patient.id, Episode.closed_at.is_(None))
        .order_by(Episode.opened_at.desc())
        .limit(1)
    )
    episodes = {episode} if episode else set()
    current = current_programs(session, episodes, settings.exercises_dir).get(episode or 0, [])
    followed = adherence(session, episodes).get(episode or 0)
    return {
        "current": [
            {"name": a.exercise.name["en"], "dose": a.dose.words("en"), "code": a.dose.code()}
            for a in current
        ],
        "history": program_history(session, patient.id),
        "adherence": followed,
        "library": sorted(load_library(settings.exercises_dir)),
    }


@router.post("/patients/{ref}/exercises", response_class=HTMLResponse)
def assign(
    ref: str,
    request: Request,
    who: Assigns,
    visit: str = Form(...),
    exercises: str = Form("", max_length=500),
) -> HTMLResponse:
    """A clinician assigns (or corrects) the exercises of one of the patient's visits."""
    runtime = runtime_of(request)
    assigned = parse_program(exercises, runtime.settings.exercises_dir)
    with transaction(runtime.sessions) as session:
        patient = get_patient(session, ref)
        found = session.scalar(
            select(Visit).where(
                Visit.ref == visit, Visit.patient_id == patient.id, Visit.cancelled_at.is_(None)
            )
        )
        if found is None:
            raise InvalidInput(f"visit {visit!r} is not one of this patient's")
        assign_program(session, visit=found, assigned=assigned, by=who.name, now=utcnow())
    audit_view(request, who, "assign-exercises", f"visit {visit}: {program_code(assigned)}")
    return see_other(f"/console/patients/{ref}")


@router.get("/nudges", response_class=HTMLResponse)
def nudges(request: Request, who: SeesPatients, cursor: Cursor = "") -> HTMLResponse:
    runtime = runtime_of(request)
    after = runtime.settings.nudge_after_reminders
    with runtime.sessions() as session:
        everyone = needs_a_nudge(session, after=after)
    found = NUDGES.page_items(
        everyone,
        lambda n: [n.reminders_without_done, n.patient_ref],
        cursor=cursor,
        secret=runtime.settings.secret_key,
    )
    shown = ", ".join(n.patient_ref for n in found.rows) or "none"
    audit_view(request, who, "read-nudges", f"patients {shown}")
    return page(request, "nudges.html", who, found=found, nudges=found.rows, after=after)
