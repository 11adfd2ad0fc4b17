"""Finding a patient (`followup.care.search`): the results a page at a time, each
with what tells two people of one name apart (date of birth, phone's last digits,
reference)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from followup.care.search import matching
from followup.console.paging import Cursor, Key, Paging
from followup.console.sessions import SignedIn
from followup.console.web import Needs, audit_view, page, runtime_of
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
    query = matching(q)
    runtime = runtime_of(request)
    if query is not None:
        with runtime.sessions() as session:
            found = FOUND.page(session, query, cursor=cursor, secret=runtime.settings.secret_key)
        shown = ", ".join(row[0].ref for row in found.rows) or "none"
        audit_view(request, who, "search-patients", f"{found.total} found: {shown}")
    return page(request, "patients.html", who, q=q, found=found)
