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

from followup.care.appointments import STEP_PREFIX, reminded_appointment
from followup.db import insert
from followup.models.care import Episode, Office, Patient, Visit
from followup.models.outbox import Message
from followup.models.programs import ExerciseAssignment, ExerciseReport
from followup.models.replies import Reply
from followup.replies.reading import Reading, normalize, read_by_rules, read_reply

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


def read_answer_text(text: str) -> Reading:
    """Both readers, but for a bare DONE, HECHO, C or R the rules alone (nothing else
    to read in it; anything more, "done but my leg is numb", is read by both)."""
    return read_by_rules(text) if is_bare_answer(text) else read_reply(text)


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


@dataclass(frozen=True)
class ProgrammeAnswer:
    """What a reply counted as, for its own answer: "done" (today's exercises recorded),
    "confirm" (the appointment at `appointment_at`, at `office`, confirmed) or
    "reschedule" (for the front desk)."""

    kind: str
    appointment_at: datetime | None = None
    office: str | None = None


def record_program_answers(
    session: Session, answers: list[Answered], *, now: datetime
) -> dict[int, ProgrammeAnswer]:
    """Record the DONEs, Cs and Rs among newly stored replies; returns what each reply
    that counted was, by reply id."""
    counted: dict[int, ProgrammeAnswer] = {}
    for answer in answers:
        if says_done(answer.body):
            episode = record_done(
                session,
                patient_id=answer.patient_id,
                channel="sms",
                reply_id=answer.reply_id,
                message_id=answer.last_message_id,
                now=now,
            )
            if episode is not None:
                counted[answer.reply_id] = ProgrammeAnswer("done")
            continue
        kind = appointment_answer(answer.body)
        if kind is not None and answer.last_message_id is not None:
            found = answer_appointment(
                session,
                reply_id=answer.reply_id,
                message_id=answer.last_message_id,
                kind=kind,
                now=now,
            )
            if found is not None:
                counted[answer.reply_id] = found
    return counted


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
) -> int | None:
    """Record that the patient did today's exercises (their local day, once); returns
    the episode it counts for, None when the patient has no programme."""
    episode_id = programme_episode(session, patient_id)
    if episode_id is None:
        return None
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
    )
    session.execute(statement)
    return episode_id


def answer_appointment(
    session: Session, *, reply_id: int, message_id: int, kind: str, now: datetime
) -> ProgrammeAnswer | None:
    """Record the reply `reply_id` (a C or R by text, or a tap in the reminder's email)
    as `kind` on the appointment that the reminder `message_id` was about, once; None
    when that message is no appointment reminder, or its appointment has passed or was
    moved or cancelled since (staff read the reply as any other)."""
    message = session.get(Message, message_id)
    if message is None or not (message.step or "").startswith(STEP_PREFIX):
        return None
    visit = session.get(Visit, message.visit_id) if message.visit_id else None
    booked = None if visit is None else reminded_appointment(visit, message.step, now)
    if visit is None or booked is None:
        return None
    answer = ProgrammeAnswer(kind, booked, Office(visit.office).label)
    if session.get_one(Reply, reply_id).keyword is not None:
        return answer  # recorded already (the same link tapped again)
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
        .where(Reply.id == reply_id, Reply.keyword.is_(None))
        .values(keyword=kind, reasons=reason, **handled)
    )
    return answer
