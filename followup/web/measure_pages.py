"""The outcome form behind a measures link (`/m/`): the Patient-Specific Functional
Scale, and at discharge the global rating of change, in the patient's language.

The signed link (to the message whose time point it is) is the key, no sign-in; a GET only shows the
form; a time point is recorded once, and a form that is not whole is shown again,
asking for what is missing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from followup.care.measures import (
    GRC_RANGE,
    MAX_ACTIVITIES,
    MeasureForm,
    measure_form,
    record_measures,
)
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.runtime import Runtime
from followup.web.pages import _invalid, _links, _page, read_link

router = APIRouter(include_in_schema=False)
# One Form() per field: FastAPI binds a shared one to the first field only.
Activity = Annotated[str, Form(max_length=200)]
Score = Annotated[str, Form(max_length=3)]


def _open(request: Request, token: str) -> tuple[MeasureForm, str] | None:
    """The form a link names, and its patient's language; None for a link not ours."""
    message_id = read_link(_links(request).read_measures, token)
    if message_id is None:
        return None
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        form = measure_form(session, message_id)
        if form is None:
            return None
        language = session.scalar(select(Patient.language).where(Patient.id == form.patient_id))
    return form, language or "en"


@router.get("/m/{token}", response_class=HTMLResponse)
def show_form(token: str, request: Request) -> HTMLResponse:
    found = _open(request, token)
    if found is None:
        return _invalid(request)
    form, language = found
    if form.answered:
        return _page(request, "measures-thanks.html", language)
    return _form(request, language, form, list(form.earlier_activities))


@router.post("/m/{token}", response_class=HTMLResponse)
async def submit_form(
    token: str,
    request: Request,
    activity1: Activity = "",
    activity2: Activity = "",
    activity3: Activity = "",
    score1: Score = "",
    score2: Score = "",
    score3: Score = "",
    change: str | None = Form(None, max_length=3),
) -> HTMLResponse:
    found = _open(request, token)
    if found is None:
        return _invalid(request)
    form, language = found
    runtime: Runtime = request.app.state.runtime
    activities = [activity1, activity2, activity3]

    def store() -> None:
        with transaction(runtime.sessions) as session:
            record_measures(
                session,
                form,
                activities=activities,
                scores=[score1, score2, score3],
                global_change=change,
                now=utcnow(),
            )

    try:
        await run_in_threadpool(store)
    except InvalidInput:
        return _form(request, language, form, activities, incomplete=True, status=400)
    return _page(request, "measures-thanks.html", language)


def _form(
    request: Request,
    language: str,
    form: MeasureForm,
    activities: list[str],
    *,
    incomplete: bool = False,
    status: int = 200,
) -> HTMLResponse:
    filled = (activities + [""] * MAX_ACTIVITIES)[:MAX_ACTIVITIES]
    return _page(
        request,
        "measures.html",
        language,
        status=status,
        activities=filled,
        discharge=form.timepoint == "discharge",
        changes=list(GRC_RANGE),
        incomplete=incomplete,
    )
