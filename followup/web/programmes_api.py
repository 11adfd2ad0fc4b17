"""The staff API for home programmes: a patient's current exercises and their history,
and the exercises assigned at a visit (changing them for the episode from then on)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.programs import (
    assign_program,
    current_programs,
    parse_program,
    program_code,
    program_history,
)
from followup.config import Settings
from followup.exceptions import NotFound
from followup.models.base import utcnow
from followup.models.care import Episode, Patient, Visit
from followup.models.staff import AuditEntry, StaffMember
from followup.staff.access import Ability
from followup.web.api import DB, RT, Allowed, SeesPatients, _audit_read, _patient

router = APIRouter(prefix="/api", tags=["programmes"])
Assigns = Annotated[StaffMember, Depends(Allowed(Ability.ASSIGN_EXERCISES))]


class ProgrammeIn(BaseModel):
    # As on the command line: "bridge:2x10,walk:15min"; empty clears the visit's own.
    exercises: str = Field(max_length=500)


class ProgrammeChangeOut(BaseModel):
    visit_ref: str
    visited_at: datetime
    exercises: str
    assigned_by: str


class ProgrammeOut(BaseModel):
    current: str
    history: list[ProgrammeChangeOut]


@router.get("/patients/{ref}/exercises", response_model=ProgrammeOut)
def patient_programme(
    ref: str, request: Request, db: DB, member: SeesPatients, rt: RT
) -> ProgrammeOut:
    found = _patient(db, ref)
    _audit_read(rt, request, member, "read-exercises", f"patient {ref}", patient_id=found.id)
    return _programme(db, found, rt.settings)


def _programme(db: Session, found: Patient, settings: Settings) -> ProgrammeOut:
    episode = db.scalar(
        select(Episode.id)
        .where(Episode.patient_id == found.id, Episode.closed_at.is_(None))
        .order_by(Episode.opened_at.desc())
        .limit(1)
    )
    programs = current_programs(db, {episode} if episode else set(), settings.exercises_dir)
    return ProgrammeOut(
        current=program_code(programs.get(episode or 0, [])),
        history=[
            ProgrammeChangeOut(
                visit_ref=change.visit_ref,
                visited_at=change.visited_at,
                exercises=change.program,
                assigned_by=change.by,
            )
            for change in program_history(db, found.id)
        ],
    )


@router.put("/visits/{ref}/exercises", response_model=ProgrammeOut)
def assign_visit_programme(
    ref: str, body: ProgrammeIn, db: DB, member: Assigns, rt: RT
) -> ProgrammeOut:
    """Assign the exercises of a visit; a bad programme is a 422 and changes nothing."""
    visit = db.scalar(select(Visit).where(Visit.ref == ref, Visit.cancelled_at.is_(None)))
    if visit is None:
        raise NotFound(f"no visit with ref {ref!r}")
    assigned = parse_program(body.exercises, rt.settings.exercises_dir)
    now = utcnow()
    assign_program(db, visit=visit, assigned=assigned, by=member.name, now=now)
    detail = f"visit {ref}: {program_code(assigned) or 'none'}"
    db.add(
        AuditEntry(
            at=now,
            actor=member.name,
            action="assign-exercises",
            detail=detail,
            patient_id=visit.patient_id,
        )
    )
    return _programme(db, visit.patient, rt.settings)
