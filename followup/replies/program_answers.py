"""The one-word answers a programme asks for: DONE (HECHO) to an exercise reminder, and
C or R to an appointment reminder.

These are read beside the triage, never instead of it: every reply is read and triaged
like any other first (`followup.replies.reading`), so "done but my legs went numb"
raises its alert and still counts as done. A DONE is recorded once per local day for a
patient whose episode has a programme; C and R count only as the answer to the
appointment reminder the patient was texted last. C confirms the appointment; R marks
it for the front desk to move, and the reply is labelled "reschedule" in the inbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.care.appointments import STEP_PREFIX
from followup.db import insert
from followup.models.care import Episode, Patient, Visit
from followup.models.outbox import Message
from followup.models.programs import ExerciseAssignment, ExerciseReport
from followup.models.replies import Reply
from followup.replies.reading import normalize

# A reply that opens with one of these says the exercises were done.
DONE_WORDS = frozenset({"done", "hecho", "hechos", "listo", "lista", "termine"})
# Whole replies that say the same without opening with a done word.
DONE_PHRASES = frozenset(
    {"i did them", "i did it", "all done", "lo hice", "los hice", "ya los hice", "ya lo hice"}
)
CONFIRM = frozenset({"c", "confirm", "confirmed", "yes c", "confirmo", "confirmar"})
RESCHEDULE = frozenset({"r", "reschedule", "cambiar", "reprogramar"})
WORD = re.compile(r"[a-z]+")
RESCHEDULE_KEYWORD = "reschedule"


def is_bare_answer(text: str) -> bool:
    """A reply that is only DONE (HECHO...), C or R: like a bare STOP it has nothing
    else to read, so the rules read it alone (the second reader, trained on replies
    about the body, would read an unknown short word as doubt)."""
    whole = " ".join(WORD.findall(normalize(text)))
    return whole in DONE_WORDS | DONE_PHRASES | CONFIRM | RESCHEDULE


def says_done(text: str) -> bool:
    words = WORD.findall(normalize(text))
    # "not done", "no lo hice": a negation first is not a done.
    return bool(words) and (words[0] in DONE_WORDS or " ".join(words) in DONE_PHRASES)


def appointment_answer(text: str) -> str | None:
    """ "confirm" for C, "reschedule" for R, None for anything else."""
    whole = " ".join(WORD.findall(normalize(text)))
    if whole in CONFIRM:
        return "confirm"
    if whole in RESCHEDULE:
        return RESCHEDULE_KEYWORD
    return None


@dataclass(frozen=True)
class Answered:
    reply_id: int
    patient_id: int
    last_message_id: int | None
    body: str


def record_program_answers(session: Session, answers: list[Answered], *, now: datetime) -> None:
    """Record the DONEs, Cs and Rs among newly stored replies."""
    for answer in answers:
        if says_done(answer.body):
            record_done(
                session,
                patient_id=answer.patient_id,
                channel="sms",
                reply_id=answer.reply_id,
                message_id=answer.last_message_id,
                now=now,
            )
            continue
        kind = appointment_answer(answer.body)
        if kind is not None and answer.last_message_id is not None:
            _answer_appointment(session, answer, kind, now)


def programme_episode(session: Session, patient_id: int) -> int | None:
    """The patient's open episode with a home programme, if any."""
    return session.scalar(
        select(Episode.id)
        .join(ExerciseAssignment, ExerciseAssignment.episode_id == Episode.id)
        .where(Episode.patient_id == patient_id, Episode.closed_at.is_(None))
        .order_by(Episode.opened_at.desc())
        .limit(1)
    )


def record_done(
    session: Session,
    *,
    patient_id: int,
    channel: str,
    reply_id: int | None,
    message_id: int | None,
    now: datetime,
) -> bool:
    """Record that the patient did today's exercises (their local day); False when the
    patient has no programme or the day was recorded already."""
    episode_id = programme_episode(session, patient_id)
    if episode_id is None:
        return False
    zone = ZoneInfo(session.get_one(Patient, patient_id).timezone)
    statement = (
        insert(session, ExerciseReport)
        .values(
            patient_id=patient_id,
            episode_id=episode_id,
            day=now.astimezone(zone).date(),
            channel=channel,
            reply_id=reply_id,
            message_id=message_id,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["patient_id", "day"])
        .returning(ExerciseReport.id)
    )
    return bool(session.execute(statement).all())


def _answer_appointment(session: Session, answer: Answered, kind: str, now: datetime) -> None:
    message = session.get(Message, answer.last_message_id)
    if message is None or not (message.step or "").startswith(STEP_PREFIX):
        return  # a C or R that answers no appointment reminder: staff read it as any reply
    visit = session.get(Visit, message.visit_id) if message.visit_id else None
    if visit is None or visit.next_appointment_at is None or visit.next_appointment_at <= now:
        return
    if kind == "confirm":
        visit.next_appointment_confirmed_at = now
        visit.next_appointment_reschedule_at = None
    else:
        visit.next_appointment_reschedule_at = now
        visit.next_appointment_confirmed_at = None
    reason = (
        "confirms the next appointment"
        if kind == "confirm"
        else "asks to reschedule the next appointment: for the front desk"
    )
    # A confirmation needs nobody; a request to move it waits in the inbox.
    handled = (
        {"handled_at": now, "handled_by": "appointment confirmed"} if kind == "confirm" else {}
    )
    session.execute(
        update(Reply)
        .where(Reply.id == answer.reply_id, Reply.keyword.is_(None))
        .values(keyword=kind, reasons=reason, **handled)
    )
