"""Pages behind links in patients' emails: one-tap answers, one-click unsubscribe.

A GET never changes anything, and no page submits itself: mail scanners open (and
some run) every link in an email. An answer is recorded only when a person presses
its button, once per link; a check-in email takes a few notes, then its page says so.
Unsubscribe answers RFC 8058's one-click POST from mail programs and shows a button
otherwise.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.inbound import NOTE_KEY, notes_taken, receive_answer, unsubscribe_email
from followup.links import InvalidLink, Links
from followup.models import Patient, utcnow
from followup.plain_text import plain
from followup.runtime import Runtime

router = APIRouter(include_in_schema=False)
# Notes one check-in email takes; past this a person is better served by a call.
NOTES_PER_EMAIL = 3


@router.get("/r/{token}", response_class=HTMLResponse)
def confirm_answer(token: str, request: Request) -> HTMLResponse:
    try:
        _, score = _links(request).read_answer(token)
    except InvalidLink:
        return _page(request, "link-invalid.html", status=400)
    return _page(request, "answer-confirm.html", score=score)


@router.post("/r/{token}", response_class=HTMLResponse)
async def record_answer(token: str, request: Request) -> HTMLResponse:
    try:
        message_id, score = _links(request).read_answer(token)
    except InvalidLink:
        return _page(request, "link-invalid.html", status=400)
    return await _answer(request, message_id, str(score), f"link-{message_id}-{score}", token)


@router.post("/r/{token}/note", response_class=HTMLResponse)
async def record_note(
    token: str, request: Request, note: str = Form("", max_length=2000)
) -> HTMLResponse:
    try:
        message_id, _ = _links(request).read_answer(token)
        plain(note, "the note")
    except InvalidInput:
        return _page(request, "link-invalid.html", status=400)
    if not note.strip():
        return _page(
            request, "answer-thanks.html", first_name="", score=None, triage=None, note_url=None
        )
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        if notes_taken(session, message_id) >= NOTES_PER_EMAIL:
            return _page(request, "answer-enough.html", status=429)
    digest = hashlib.sha256(note.strip().encode()).hexdigest()[:24]
    return await _answer(
        request, message_id, note.strip(), f"{NOTE_KEY}{message_id}-{digest}", None
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm_unsubscribe(token: str, request: Request) -> HTMLResponse:
    try:
        _links(request).read_unsubscribe(token)
    except InvalidLink:
        return _page(request, "link-invalid.html", status=400)
    return _page(request, "unsubscribe-confirm.html")


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    try:
        message_id = _links(request).read_unsubscribe(token)
    except InvalidLink:
        return _page(request, "link-invalid.html", status=400)
    runtime: Runtime = request.app.state.runtime

    def revoke() -> Patient | None:
        with transaction(runtime.sessions) as session:
            return unsubscribe_email(session, message_id=message_id, now=utcnow())

    if await run_in_threadpool(revoke) is None:
        return _page(request, "link-invalid.html", status=400)
    return _page(request, "unsubscribed.html")


async def _answer(
    request: Request, message_id: int, text: str, key: str, token: str | None
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime

    def store() -> tuple[str, int | None, str | None] | None:
        with transaction(runtime.sessions) as session:
            reply = receive_answer(
                session,
                settings=runtime.settings,
                renderer=runtime.renderer,
                message_id=message_id,
                text=text,
                key=key,
                now=utcnow(),
            )
            if reply is None or reply.patient_id is None:
                return None
            patient = session.get_one(Patient, reply.patient_id)
            return patient.first_name, reply.pain, reply.triage

    stored = await run_in_threadpool(store)
    if stored is None:
        return _page(request, "link-invalid.html", status=400)
    first_name, pain, triage = stored
    note_url = f"{request.url.path}/note" if token else None
    return _page(
        request,
        "answer-thanks.html",
        first_name=first_name,
        score=pain if token else None,
        triage=triage,
        note_url=note_url,
    )


def _links(request: Request) -> Links:
    links: Links = request.app.state.links
    return links


def _page(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    template = runtime.renderer.environment.get_template(f"web/{name}")
    clinic = {"name": settings.clinic_name, "phone": settings.clinic_phone}
    return HTMLResponse(template.render(clinic=clinic, **context), status_code=status)
