"""Pages behind a programme reminder's links: the exercises with their instructions,
cautions and the emergency signs (`/x/`, with the intake outcome form's link until it
is filled), and the one-tap "I did them today" (`/d/`).

A signed link is the key: no sign-in, nothing about the patient but their first name
and their exercises. As with every emailed link, a GET changes nothing; "done" is
recorded only when a person presses the button.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.measures import measure_form
from followup.care.programs import current_programs
from followup.content.links import Links
from followup.content.program_text import exercise_items
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.outbox import Message
from followup.replies.program_answers import record_done
from followup.runtime import Runtime
from followup.web.pages import _invalid, _links, _page, add_one_tap, read_link

router = APIRouter(include_in_schema=False)


@router.get("/x/{token}", response_class=HTMLResponse)
def exercises_page(token: str, request: Request) -> HTMLResponse:
    message_id = read_link(_links(request).read_exercises, token)
    if message_id is None:
        return _invalid(request)
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        found = session.execute(
            select(Patient.first_name, Patient.language, Message.episode_id)
            .join(Message, Message.patient_id == Patient.id)
            .where(Message.id == message_id)
        ).first()
        if found is None:
            return _invalid(request)
        episodes = {found.episode_id} if found.episode_id else set()
        programs = current_programs(session, episodes, runtime.settings.exercises_dir)
        # The first exercise reminder's page carries the intake form until it is filled.
        intake = measure_form(session, message_id)
    program = programs.get(found.episode_id or 0, [])
    wanted = bool(program) and intake is not None and not intake.answered
    form_url = _links(request).measures_url(message_id) if wanted else ""
    return _page(
        request,
        "exercises.html",
        found.language,
        first_name=found.first_name,
        exercises=exercise_items(program, found.language),
        done_url=_links(request).done_url(message_id),
        measures_url=form_url,
    )


def _done_today(session: Session, message_id: int) -> str | None:
    """Record the one-tap "I did my exercises today" from the reminder `message_id`."""
    message = session.get(Message, message_id)
    if message is None or message.patient_id is None:
        return None
    record_done(
        session,
        patient_id=message.patient_id,
        channel="email",
        reply_id=None,
        message_id=message_id,
        now=utcnow(),
    )
    return session.get_one(Patient, message.patient_id).language


add_one_tap(
    router, "/d/{token}", Links.read_done, ("done-confirm.html", "done-thanks.html"), _done_today
)
