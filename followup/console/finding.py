"""Finding a patient (`followup.care.search`): the results a page at a time, each
with what tells two people of one name apart (date of birth, phone's last digits,
reference)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Select
from sqlalchemy.orm import Session

from followup.care.search import matching, prefer_the_index
from followup.console.paging import Cursor, Key, Page, Paging
from followup.console.sessions import SignedIn
from followup.console.web import Needs, audit_view, page, runtime_of
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeesPatients = Annotated[SignedIn, Depends(Needs(Ability.SEE_PATIENTS))]
# Results in their folded name order (last name first), then by id.
FOUND = Paging("patients", [Key(Patient.search_text, str), Key(Patient.id, int)])


@router.get("/patients", response_class=HTMLResponse)
def find(
    request: Request,
    who: SeesPatients,
    q: str = Query("", max_length=100),
    cursor: Cursor = "",
) -> HTMLResponse:
    found = None
    runtime = runtime_of(request)
    query = matching(
        q, today=utcnow().astimezone(ZoneInfo(runtime.settings.clinic_timezone)).date()
    )
    if query is not None:
        with runtime.sessions() as session:
            found = found_page(session, query, cursor=cursor, secret=runtime.settings.secret_key)
        shown = ", ".join(row[0].ref for row in found.rows) or "none"
        audit_view(request, who, "search-patients", f"{found.total} found: {shown}")
    return page(request, "patients.html", who, q=q, found=found)


def found_page(session: Session, query: Select[Patient], *, cursor: str, secret: str) -> Page:
    """The page of `query`'s patients (from `matching`) that `cursor` names, and their
    total, both read through the search index."""
    prefer_the_index(session)
    return FOUND.page(session, query, cursor=cursor, secret=secret)
