"""The staff API for finding patients (`followup.care.search`, as the console finds
them, a page at a time) and correcting their name, contacts and date of birth."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request

from followup.care.patients import change_details
from followup.care.search import matching
from followup.console.finding import found_page
from followup.console.paging import Cursor
from followup.console.patients import DETAILS_CORRECTED
from followup.console.web import audit_change
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.staff import StaffMember
from followup.staff.access import Ability
from followup.web.api import DB, RT, Allowed, SeesPatients, _audit_read, _patient
from followup.web.api_models import PatientChange, PatientOut, PatientsFound

router = APIRouter(prefix="/api", tags=["patients"])
CaresForPatients = Annotated[StaffMember, Depends(Allowed(Ability.CARE_FOR_PATIENTS))]


@router.get("/patients", response_model=PatientsFound)
def find_patients(
    db: DB,
    member: SeesPatients,
    rt: RT,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    cursor: Cursor = "",
) -> PatientsFound:
    """Patients matching a name (any order, no accents or case needed), a phone, a
    reference's start, an email or a date of birth."""
    query = matching(q, today=utcnow().astimezone(ZoneInfo(rt.settings.clinic_timezone)).date())
    if query is None:
        return PatientsFound(total=0, patients=[], next_cursor=None)
    found = found_page(db, query, cursor=cursor, secret=rt.settings.secret_key)
    patients: list[Patient] = [row[0] for row in found.rows]
    shown = ", ".join(p.ref for p in patients) or "none"
    _audit_read(rt, request, member, "search-patients", f"{found.total} found: {shown}")
    return PatientsFound(
        total=found.total,
        patients=[PatientOut.model_validate(p, from_attributes=True) for p in patients],
        next_cursor=found.next_cursor,
    )


@router.patch("/patients/{ref}", response_model=PatientOut)
def correct_patient(
    ref: str, body: PatientChange, db: DB, member: CaresForPatients, request: Request
) -> Patient:
    """Correct what the body names; the rest stays (validated as an import is: 422)."""
    found = _patient(db, ref)
    given = body.model_dump(exclude_unset=True)
    born = given.get("date_of_birth", found.date_of_birth)
    change_details(
        db,
        found,
        first_name=given.get("first_name") or found.first_name,
        last_name=given.get("last_name") or found.last_name,
        phone=_kept(given, "phone", found.phone),
        email=_kept(given, "email", found.email),
        date_of_birth=born.isoformat() if born else "",
    )
    audit_change(request, db, member.name, "patient-details", DETAILS_CORRECTED, found.id)
    return found


def _kept(given: dict[str, object], name: str, current: str | None) -> str:
    value = given.get(name, current)
    return str(value) if value else ""
