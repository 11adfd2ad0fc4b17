"""Pages behind an appointment reminder email's one-tap answers (`/a/`): Confirm and Ask
to reschedule, the email's C and R.

As with every emailed link, a GET changes nothing: its page names the appointment and
asks for the button; the POST records the answer as the patient's C or R by text would
be (`followup.replies.program_answers`) and says, in the patient's language, what was recorded:
the appointment confirmed, or when the front desk will call to find a new time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from followup.care.appointments import reminded_appointment
from followup.content.render import appointment_words
from followup.models.base import utcnow
from followup.models.care import Patient, Visit
from followup.models.outbox import Message
from followup.models.replies import Reply
from followup.replies.answers import APPOINTMENT_KEY
from followup.replies.call_back import programme_facts
from followup.replies.program_answers import answer_appointment
from followup.runtime import Runtime
from followup.web.pages import _invalid, _links, _page, answer_tap, read_link

router = APIRouter(include_in_schema=False)


@router.get("/a/{token}", response_class=HTMLResponse)
def confirm_appointment_answer(token: str, request: Request) -> HTMLResponse:
    found = read_link(_links(request).read_appointment, token)
    if found is None:
        return _invalid(request)
    message_id, kind = found
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        message = session.get(Message, message_id)
        visit = session.get(Visit, message.visit_id) if message and message.visit_id else None
        if message is None or visit is None:
            return _invalid(request)
        language = visit.patient.language
        booked = reminded_appointment(visit, message.step, utcnow())
    if booked is None:  # passed, moved or cancelled since: nothing to answer
        return _page(request, "appointment-thanks.html", language, kind=None)
    when = appointment_words(booked, runtime.settings.clinic_timezone, language)
    return _page(request, "appointment-confirm.html", language, kind=kind, appointment=when)


@router.post("/a/{token}", response_class=HTMLResponse)
async def record_appointment_answer(token: str, request: Request) -> HTMLResponse:
    found = read_link(_links(request).read_appointment, token)
    if found is None:
        return _invalid(request)
    message_id, kind = found
    settings = request.app.state.runtime.settings

    def shown(
        session: Session, reply: Reply, patient: Patient, alerted: bool, now: datetime
    ) -> dict[str, Any]:
        answer = answer_appointment(
            session, reply_id=reply.id, message_id=message_id, kind=kind, now=now
        )
        if answer is None:  # passed, moved or cancelled since: the page says to call
            return {"kind": None}
        facts = programme_facts(settings, answer, language=patient.language, now=now)
        return dict(facts) | {"kind": kind}

    # Stored as the patient's C or R by text would be, once per link.
    text, key = ("C" if kind == "confirm" else "R"), f"{APPOINTMENT_KEY}{message_id}-{kind}"
    return await answer_tap(request, message_id, text, key, "appointment-thanks.html", shown)
