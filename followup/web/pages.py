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
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from babel import Locale, UnknownLocaleError
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from followup.care.patients import LANGUAGES
from followup.content.links import InvalidLink, Links
from followup.content.render import FALLBACK_LANGUAGE
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.outbox import Message
from followup.models.replies import Reply
from followup.plain_text import plain
from followup.replies.answers import NOTE_KEY, notes_taken, receive_answer, unsubscribe_email
from followup.replies.call_back import answer_facts
from followup.runtime import Runtime

router = APIRouter(include_in_schema=False)
# Notes one check-in email takes; past this a person is better served by a call.
NOTES_PER_EMAIL = 3

T = TypeVar("T")
# What a one-tap POST's store returns: the patient's language and the page's context,
# or None when the link's message (or what it answers) is gone.
Tapped = tuple[str, dict[str, Any]] | None


def read_link(read: Callable[[str], T], token: str) -> T | None:
    """What a signed link carries, or None for a link not ours or expired."""
    try:
        return read(token)
    except InvalidLink:
        return None


@router.get("/r/{token}", response_class=HTMLResponse)
def confirm_answer(token: str, request: Request) -> HTMLResponse:
    found = read_link(_links(request).read_answer, token)
    if found is None:
        return _invalid(request)
    message_id, score = found
    return _page(request, "answer-confirm.html", _language(request, message_id), score=score)


@router.post("/r/{token}", response_class=HTMLResponse)
async def record_answer(token: str, request: Request) -> HTMLResponse:
    found = read_link(_links(request).read_answer, token)
    if found is None:
        return _invalid(request)
    message_id, score = found
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


def add_one_tap(
    router: APIRouter,
    path: str,
    read: Callable[[Links, str], int],
    pages: tuple[str, str],
    store: Callable[[Session, int], str | None],
) -> None:
    """Add an email's one-tap link to `router`, its message id read by the `Links`
    method `read`: its GET shows the first of `pages` (with the button, in the patient's
    language) and changes nothing; its POST records the tap with `store` (given the
    message id, it returns the patient's language, or None when the message is gone)
    and shows the second."""
    ask, done = pages

    def show(token: str, request: Request) -> HTMLResponse:
        message_id = read_link(partial(read, _links(request)), token)
        if message_id is None:
            return _invalid(request)
        return _page(request, ask, _language(request, message_id))

    async def record(token: str, request: Request) -> HTMLResponse:
        message_id = read_link(partial(read, _links(request)), token)
        if message_id is None:
            return _invalid(request)

        def tapped(session: Session) -> Tapped:
            language = store(session, message_id)
            return None if language is None else (language, {})

        return await record_tap(request, done, tapped)

    name = ask.removesuffix(".html")
    router.add_api_route(path, show, methods=["GET"], response_class=HTMLResponse, name=name)
    router.add_api_route(path, record, methods=["POST"], response_class=HTMLResponse, name=done)


def _unsubscribe(session: Session, message_id: int) -> str | None:
    patient = unsubscribe_email(session, message_id=message_id, now=utcnow())
    return None if patient is None else patient.language


PAGES = ("unsubscribe-confirm.html", "unsubscribed.html")
add_one_tap(router, "/u/{token}", Links.read_unsubscribe, PAGES, _unsubscribe)


async def record_tap(
    request: Request, name: str, store: Callable[[Session], Tapped]
) -> HTMLResponse:
    """A one-tap POST from an email link: `store` records it in one transaction, off the
    event loop; then the page `name` in the patient's language (the invalid-link page
    when `store` found nothing to record)."""
    runtime: Runtime = request.app.state.runtime

    def run() -> Tapped:
        with transaction(runtime.sessions) as session:
            return store(session)

    stored = await run_in_threadpool(run)
    if stored is None:
        return _invalid(request)
    language, context = stored
    return _page(request, name, language, **context)


async def _answer(
    request: Request, message_id: int, text: str, key: str, token: str | None
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime

    def shown(
        session: Session, reply: Reply, patient: Patient, alerted: bool, now: datetime
    ) -> dict[str, Any]:
        facts = answer_facts(
            runtime.settings, language=patient.language, alerted=alerted, advice=(), now=now
        )
        return dict(facts) | {
            "first_name": patient.first_name,
            "score": reply.pain if token else None,
            "triage": reply.triage,
            "note_url": f"{request.url.path}/note" if token else None,
        }

    return await answer_tap(request, message_id, text, key, "answer-thanks.html", shown)


# What the page after a one-tap answer shows, from the reply stored (None: nothing).
Shown = Callable[[Session, Reply, Patient, bool, datetime], dict[str, Any] | None]


async def answer_tap(
    request: Request, message_id: int, text: str, key: str, page: str, shown: Shown
) -> HTMLResponse:
    """Store a one-tap answer or note to the email `message_id` as the patient's reply
    `text` (once per `key`; see `receive_answer`), then the page `page` with what
    `shown` makes of it (from the session, the reply, the patient, whether staff were
    alerted, and now)."""
    runtime: Runtime = request.app.state.runtime

    def store(session: Session) -> Tapped:
        now = utcnow()
        answered = receive_answer(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            message_id=message_id,
            text=text,
            key=key,
            now=now,
        )
        if answered is None or answered[0].patient_id is None:
            return None
        reply, alerted = answered
        patient = session.get_one(Patient, reply.patient_id)
        context = shown(session, reply, patient, alerted, now)
        return None if context is None else (patient.language, context)

    return await record_tap(request, page, store)


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
