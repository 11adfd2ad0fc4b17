"""A patient's conversation with the clinic, replies handled and assigned (the inbox
lists them: `followup.replies.inbox`), and staff answers, which go through the outbox like every other message.

An answer is care: it needs the patient's care consent on its channel and keeps to
their quiet hours, unless a clinician sends a safety call-back text, which is
recorded. It is sent even if the patient just had the same words (staff mean it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.content.render import with_opt_out
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import Channel
from followup.models.care import Patient
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus, Purpose
from followup.models.replies import Alert, Reply
from followup.models.staff import AuditEntry, Role, StaffMember
from followup.plain_text import plain
from followup.staff.access import Ability, may

ANSWER_LONGEST = 1000
# An answer not sent within a day (no consent yet, a long quiet night) is stale.
ANSWER_EXPIRES = timedelta(hours=24)


@dataclass(frozen=True)
class Entry:
    """One line of a conversation, outbound or inbound."""

    at: datetime
    inbound: bool
    channel: str
    text: str
    state: str  # a message's status, or a reply's triage
    note: str  # what the step was, or the pain score
    # Sent by the system on its own (the answer to a text), not by staff or a plan.
    automatic: bool = False
    # A staff answer still waiting: when it is due, and whether quiet hours apply.
    waiting: bool = False
    ignore_quiet_hours: bool = False


def thread(session: Session, patient_id: int, *, limit: int = 200) -> list[Entry]:
    """Everything that went out to the patient (sent or tried, and staff answers still
    waiting), the automatic answers to their texts, and what came back, oldest first."""
    sent = session.execute(
        select(
            func.coalesce(Message.sent_at, Message.attempted_at, Message.due_at),
            Message.channel,
            Message.subject,
            Message.body,
            Message.status,
            Message.step,
            Message.purpose,
            Message.attempted_at,
            Message.ignore_quiet_hours,
        )
        .where(Message.patient_id == patient_id, Message.purpose != Purpose.ALERT)
        .where(or_(Message.attempted_at.is_not(None), Message.purpose == Purpose.ANSWER))
        .order_by(Message.due_at.desc())
        .limit(limit)
    ).all()
    received = session.execute(
        select(Reply.received_at, Reply.channel, Reply.body, Reply.triage, Reply.pain, Reply.answer)
        .where(Reply.patient_id == patient_id)
        .order_by(Reply.received_at.desc())
        .limit(limit)
    ).all()
    entries = [
        Entry(
            at,
            False,
            channel,
            (f"{subject}\n\n" if subject else "") + (body or ""),
            status,
            "staff answer" if purpose == Purpose.ANSWER else step or purpose,
            waiting=attempted is None and status in PENDING_STATUSES,
            ignore_quiet_hours=ignore_quiet_hours,
        )
        for at, channel, subject, body, status, step, purpose, attempted, ignore_quiet_hours in sent
    ]
    for at, channel, body, triage, pain, answer in received:
        entries.append(
            Entry(at, True, channel, body, triage or "", "" if pain is None else f"pain {pain}/10")
        )
        if answer:
            state = MessageStatus.SENT.value
            entries.append(Entry(at, False, channel, answer, state, "answer", automatic=True))
    # Stable: an automatic answer stays right after the text it answers.
    return sorted(entries, key=lambda entry: entry.at)


def same_answer_waiting(
    session: Session, *, patient: Patient, channel: Channel, text: str, since: datetime
) -> Message | None:
    """A staff answer with these words to this patient, queued or sent since `since`:
    sending it again is most likely a mistake, so staff are asked first."""
    body = _answer_body(text, channel, patient)
    return session.scalars(
        select(Message)
        .where(
            Message.patient_id == patient.id,
            Message.purpose == Purpose.ANSWER,
            Message.channel == channel.value,
            Message.created_at >= since,
            Message.body == body,
            Message.status.not_in(
                [MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.SKIPPED]
            ),
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()


def mark_handled(session: Session, reply_id: int, *, by: str, now: datetime) -> None:
    """Mark a reply handled; one that raised an alert is handled only by acknowledging
    its alert (so the inbox and Alerts never disagree)."""
    _reply(session, reply_id)
    alert_id = session.scalar(select(Alert.id).where(Alert.reply_id == reply_id))
    if alert_id is not None:
        raise InvalidInput(f"reply #{reply_id} is handled by acknowledging alert #{alert_id}")
    session.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.handled_at.is_(None))
        .values(handled_at=now, handled_by=by)
    )


def assign(session: Session, reply_id: int, *, staff_name: str | None) -> None:
    """Assign the reply to the staff member of that name (as typed, or in any case when
    only one has it), or to nobody."""
    _reply(session, reply_id)
    staff_id = None
    if staff_name:
        staff_id = session.scalar(select(StaffMember.id).where(StaffMember.name == staff_name))
        if staff_id is None:
            alike = session.scalars(
                select(StaffMember.id).where(func.lower(StaffMember.name) == staff_name.lower())
            ).all()
            staff_id = alike[0] if len(alike) == 1 else None
        if staff_id is None:
            raise NotFound(f"no staff member named {staff_name!r}")
    session.execute(update(Reply).where(Reply.id == reply_id).values(assigned_to=staff_id))


def queue_answer(
    session: Session,
    *,
    patient: Patient,
    channel: Channel,
    text: str,
    by: str,
    role: Role,
    safety_call_back: bool,
    settings: Settings,
    now: datetime,
) -> Message:
    """Put a staff answer in the outbox, due now; returns its row."""
    body = _answer_body(text, channel, patient)
    if safety_call_back and (
        channel is not Channel.SMS or not may(role, Ability.CALL_BACK_AT_NIGHT)
    ):
        raise InvalidInput("only a clinician may text outside quiet hours, for a call-back")
    if (channel is Channel.SMS and not patient.phone) or (
        channel is Channel.EMAIL and not patient.email
    ):
        raise InvalidInput(f"the patient has no {'phone' if channel is Channel.SMS else 'email'}")
    message = Message(
        patient_id=patient.id,
        channel=channel.value,
        purpose=Purpose.ANSWER.value,
        template="staff-answer",
        status=MessageStatus.SCHEDULED.value,
        due_at=now,
        expires_at=now + ANSWER_EXPIRES,
        body=body,
        subject=f"A message from {settings.clinic_name}" if channel is Channel.EMAIL else None,
        allow_repeat=True,
        ignore_quiet_hours=safety_call_back,
        updated_at=now,
        created_at=now,
    )
    session.add(message)
    session.flush()
    detail = f"patient {patient.ref}, message #{message.id}"
    if safety_call_back:
        detail += ": safety call-back, sent outside quiet hours if need be"
    session.add(
        AuditEntry(
            at=now,
            actor=by,
            action=f"answer-{channel.value}",
            patient_id=patient.id,
            message_id=message.id,
            detail=detail,
        )
    )
    return message


def _answer_body(text: str, channel: Channel, patient: Patient) -> str:
    """The body of a staff answer as it is stored and sent (checked, opt-out added)."""
    text = plain(text.strip(), "the answer").replace("\r\n", "\n")
    if not text:
        raise InvalidInput("write the answer first")
    if len(text) > ANSWER_LONGEST:
        raise InvalidInput(f"an answer is at most {ANSWER_LONGEST} characters")
    return with_opt_out(text, patient.language) if channel is Channel.SMS else text + "\n"


def _reply(session: Session, reply_id: int) -> Reply:
    reply = session.get(Reply, reply_id)
    if reply is None:
        raise NotFound(f"no reply #{reply_id}")
    return reply
