"""The outcome form behind a measures link (`/m/`): the Patient-Specific Functional
Scale, and at discharge the global rating of change, in the patient's language.

The signed link is the key (no sign-in); a GET only shows the form; a time point is
recorded once, and a form that is not whole is shown again with what to fix.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from followup.care.measures import GRC_RANGE, MAX_ACTIVITIES, measure_form, record_measures
from followup.content.links import InvalidLink
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.runtime import Runtime
from followup.web.pages import _invalid, _language, _links, _page

router = APIRouter(include_in_schema=False)
ACTIVITY = Form("", max_length=200)
SCORE = Form("", max_length=3)


@router.get("/m/{token}", response_class=HTMLResponse)
def show_form(token: str, request: Request) -> HTMLResponse:
    try:
        message_id = _links(request).read_measures(token)
    except InvalidLink:
        return _invalid(request)
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        form = measure_form(session, message_id)
    if form is None:
        return _invalid(request)
    language = _language(request, message_id)
    if form.answered:
        return _page(request, "measures-thanks.html", language)
    return _form(request, language, form.timepoint, list(form.earlier_activities))


@router.post("/m/{token}", response_class=HTMLResponse)
async def submit_form(
    token: str,
    request: Request,
    activity1: str = ACTIVITY,
    activity2: str = ACTIVITY,
    activity3: str = ACTIVITY,
    score1: str = SCORE,
    score2: str = SCORE,
    score3: str = SCORE,
    change: str | None = Form(None, max_length=3),
) -> HTMLResponse:
    try:
        message_id = _links(request).read_measures(token)
    except InvalidLink:
        return _invalid(request)
    runtime: Runtime = request.app.state.runtime
    activities = [activity1, activity2, activity3]

    def store() -> str | None:
        with transaction(runtime.sessions) as session:
            form = measure_form(session, message_id)
            if form is None:
                return None
            record_measures(
                session,
                form,
                activities=activities,
                scores=[score1, score2, score3],
                global_change=change,
                now=utcnow(),
            )
            return form.timepoint

    language = _language(request, message_id)
    try:
        timepoint = await run_in_threadpool(store)
    except InvalidInput:
        with runtime.sessions() as session:
            form = measure_form(session, message_id)
        if form is None:
            return _invalid(request)
        return _form(request, language, form.timepoint, activities, incomplete=True, status=400)
    if timepoint is None:
        return _invalid(request)
    return _page(request, "measures-thanks.html", language)


def _form(
    request: Request,
    language: str,
    timepoint: str,
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
        discharge=timepoint == "discharge",
        changes=list(GRC_RANGE),
        incomplete=incomplete,
    )
