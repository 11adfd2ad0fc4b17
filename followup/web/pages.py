"""Pages behind links in patients' emails: one-tap answers, one-click unsubscribe.

A GET never changes anything, and no page submits itself: mail scanners open (and
some run) every link in an email. An answer is recorded only when a person presses
its button, once per link; a check-in email takes a few notes, then its page says so.
Unsubscribe answers RFC 8058's one-click POST from mail programs and shows a button
otherwise. Patients' pages are in the patient's language; a link that names no
patient is answered in the browser's.
"""

from __future__ import annotations

import hashlib
from typing import Any

from babel import Locale, UnknownLocaleError
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from followup.care.patients import LANGUAGES
from followup.content.links import InvalidLink, Links
from followup.content.render import FALLBACK_LANGUAGE
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.outbox import Message
from followup.plain_text import plain
from followup.replies.answers import NOTE_KEY, notes_taken, receive_answer, unsubscribe_email
from followup.replies.call_back import answer_facts
from followup.runtime import Runtime

router = APIRouter(include_in_schema=False)
# Notes one check-in email takes; past this a person is better served by a call.
NOTES_PER_EMAIL = 3


@router.get("/r/{token}", response_class=HTMLResponse)
def confirm_answer(token: str, request: Request) -> HTMLResponse:
    try:
        message_id, score = _links(request).read_answer(token)
    except InvalidLink:
        return _invalid(request)
    return _page(request, "answer-confirm.html", _language(request, message_id), score=score)


@router.post("/r/{token}", response_class=HTMLResponse)
async def record_answer(token: str, request: Request) -> HTMLResponse:
    try:
        message_id, score = _links(request).read_answer(token)
    except InvalidLink:
        return _invalid(request)
    return await _answer(request, message_id, str(score), f"link-{message_id}-{score}", token)


@router.post("/r/{token}/note", response_class=HTMLResponse)
async def record_note(
    token: str, request: Request, note: str = Form("", max_length=2000)
) -> HTMLResponse:
    try:
        message_id, _ = _links(request).read_answer(token)
        plain(note, "the note")
    except InvalidInput:  # a link not ours, or a note with control characters
        return _invalid(request)
    if not note.strip():
        return _page(
            request,
            "answer-thanks.html",
            _language(request, message_id),
            first_name="",
            score=None,
            triage=None,
            note_url=None,
        )
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        if notes_taken(session, message_id) >= NOTES_PER_EMAIL:
            return _page(request, "answer-enough.html", _language(request, message_id), status=429)
    digest = hashlib.sha256(note.strip().encode()).hexdigest()[:24]
    return await _answer(
        request, message_id, note.strip(), f"{NOTE_KEY}{message_id}-{digest}", None
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm_unsubscribe(token: str, request: Request) -> HTMLResponse:
    try:
        message_id = _links(request).read_unsubscribe(token)
    except InvalidLink:
        return _invalid(request)
    return _page(request, "unsubscribe-confirm.html", _language(request, message_id))


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    try:
        message_id = _links(request).read_unsubscribe(token)
    except InvalidLink:
        return _invalid(request)
    runtime: Runtime = request.app.state.runtime

    def revoke() -> str | None:
        with transaction(runtime.sessions) as session:
            patient = unsubscribe_email(session, message_id=message_id, now=utcnow())
            return None if patient is None else patient.language

    language = await run_in_threadpool(revoke)
    if language is None:
        return _invalid(request)
    return _page(request, "unsubscribed.html", language)


async def _answer(
    request: Request, message_id: int, text: str, key: str, token: str | None
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime

    def store() -> tuple[Patient, int | None, str | None, bool] | None:
        with transaction(runtime.sessions) as session:
            answered = receive_answer(
                session,
                settings=runtime.settings,
                renderer=runtime.renderer,
                message_id=message_id,
                text=text,
                key=key,
                now=utcnow(),
            )
            if answered is None or answered[0].patient_id is None:
                return None
            reply, alerted = answered
            return session.get_one(Patient, reply.patient_id), reply.pain, reply.triage, alerted

    stored = await run_in_threadpool(store)
    if stored is None:
        return _invalid(request)
    patient, pain, triage, alerted = stored
    facts = answer_facts(
        runtime.settings, language=patient.language, alerted=alerted, advice=(), now=utcnow()
    )
    context: dict[str, Any] = dict(facts) | {
        "first_name": patient.first_name,
        "score": pain if token else None,
        "triage": triage,
        "note_url": f"{request.url.path}/note" if token else None,
    }
    return _page(request, "answer-thanks.html", patient.language, **context)


def _links(request: Request) -> Links:
    links: Links = request.app.state.links
    return links


def _language(request: Request, message_id: int) -> str:
    """The language of the patient a message went to (English if there is none)."""
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        language = session.scalar(
            select(Patient.language)
            .join(Message, Message.patient_id == Patient.id)
            .where(Message.id == message_id)
        )
    return language or FALLBACK_LANGUAGE


def _browser_language(request: Request) -> str:
    """The first of the browser's languages (Accept-Language) that we have."""
    wanted = [
        part.split(";")[0].strip() for part in request.headers.get("accept-language", "").split(",")
    ]
    try:
        found = Locale.negotiate([w for w in wanted if w], list(LANGUAGES), sep="-")
    except (UnknownLocaleError, ValueError):
        found = None
    return found.language if found else FALLBACK_LANGUAGE


def _invalid(request: Request, language: str | None = None) -> HTMLResponse:
    """A link that is not ours, or expired: nothing was recorded."""
    return _page(request, "link-invalid.html", language or _browser_language(request), status=400)


def _clinic(runtime: Runtime) -> dict[str, Any]:
    settings = runtime.settings
    return {"clinic": {"name": settings.clinic_name, "phone": settings.clinic_phone}}


def _page(
    request: Request, name: str, language: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    page = runtime.renderer.page(name, language, _clinic(runtime) | context)
    return HTMLResponse(page, status_code=status)
