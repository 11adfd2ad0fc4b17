"""What staff look at: the outbox by state, messages and replies that need a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from followup.care.consent import is_revocation
from followup.models.care import ConsentEvent, Patient
from followup.models.outbox import Message, MessageStatus
from followup.models.replies import Reply


@dataclass(frozen=True)
class Attention:
    message_id: int
    patient_ref: str
    channel: str
    step: str | None
    status: str
    attempted_at: datetime | None
    reason: str | None
    # When reconciliation asks the provider again; None: only staff can settle it.
    next_look_up: datetime | None


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: count for status, count in sorted(rows)}


def needs_attention(session: Session) -> list[Attention]:
    """Every message that may or may not have reached the patient, oldest first: those
    only staff can settle (an email lost mid-DATA, a look-up that stayed ambiguous),
    then those reconciliation will ask the provider about again."""
    rows = session.execute(
        select(
            Message.id,
            Patient.ref,
            Message.channel,
            Message.step,
            Message.status,
            Message.attempted_at,
            Message.last_error,
            Message.settle_at,
        )
        .join(Patient, Message.patient_id == Patient.id)
        .where(Message.status == MessageStatus.UNKNOWN)
        .order_by(Message.settle_at.is_not(None), Message.attempted_at, Message.id)
    ).all()
    return [Attention(*row) for row in rows]


@dataclass(frozen=True)
class StrangerReply:
    received_at: datetime
    from_address: str
    body: str


def unknown_senders(session: Session, *, limit: int = 20) -> list[StrangerReply]:
    """Replies from numbers that match no patient, newest first: a new phone number,
    a wrong number, or someone who needs a call back."""
    rows = session.execute(
        select(Reply.received_at, Reply.from_address, Reply.body)
        .where(Reply.patient_id.is_(None))
        .order_by(Reply.received_at.desc())
        .limit(limit)
    ).all()
    return [StrangerReply(*row) for row in rows]


def states_since(session: Session, *sinces: datetime) -> list[dict[str, int]]:
    """Messages per state among those due since each of `sinces`, in one pass."""
    rows = session.execute(
        select(Message.status, *(func.count().filter(Message.due_at >= s) for s in sinces))
        .where(Message.due_at >= min(sinces))
        .group_by(Message.status)
    ).all()
    return [
        {row[0]: int(row[i + 1]) for row in sorted(rows) if row[i + 1]} for i in range(len(sinces))
    ]


def failures_by_code(session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(channel, provider error code, how many) of failed or undelivered messages."""
    rows = session.execute(
        select(Message.channel, func.coalesce(Message.error_code, "-"), func.count())
        .where(
            Message.status.in_((MessageStatus.FAILED, MessageStatus.UNDELIVERED)),
            Message.updated_at >= since,
        )
        .group_by(Message.channel, Message.error_code)
        .order_by(func.count().desc())
    ).all()
    return [(channel, code, count) for channel, code, count in rows]


def opt_outs(session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(channel, how it came: STOP, carrier, unsubscribe link, staff, how many
    patients) of consents withdrawn since `since`; a "no" from a patient who never
    consented (an import's "no" cell) is not an opt-out (`never_consented`)."""
    return _consent_noes(session, since, is_revocation())


def never_consented(session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(channel, where it was recorded, how many patients) of first decisions that
    were "no" (care or campaign)."""
    return _consent_noes(session, since, ~is_revocation())


def _consent_noes(
    session: Session, since: datetime, which: ColumnElement[bool]
) -> list[tuple[str, str, int]]:
    patients = func.count(ConsentEvent.patient_id.distinct())
    rows = session.execute(
        select(ConsentEvent.channel, ConsentEvent.source, patients)
        .where(ConsentEvent.granted.is_(False), ConsentEvent.at >= since, which)
        .group_by(ConsentEvent.channel, ConsentEvent.source)
        .order_by(patients.desc(), ConsentEvent.channel, ConsentEvent.source)
    ).all()
    return [(channel, source, count) for channel, source, count in rows]
