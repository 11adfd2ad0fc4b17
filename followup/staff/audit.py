"""The audit log: who did what, when, from which address, to which patient.

Security events (sign-ins and their failures, lockouts, second factors, tokens),
staff's work on patients (alerts acknowledged, replies handled and assigned, consent
changed) and every view of patient data are written here, in the transaction of what
they record or, for views, committed before the data leaves. Admins read it filtered by
member, patient, action and date, a page at a time, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from followup.models.base import utcnow
from followup.models.staff import AuditEntry

PAGE = 100
# Addresses as uvicorn gives them: IPv4 or IPv6 text, at most 45 characters.
ADDRESS_LENGTH = 45


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    address: str | None,
    detail: str = "",
    patient_id: int | None = None,
    campaign_id: int | None = None,
    message_id: int | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(),
        actor=actor[:100],
        action=action[:40],
        address=(address or "")[:ADDRESS_LENGTH] or None,
        detail=detail,
        patient_id=patient_id,
        campaign_id=campaign_id,
        message_id=message_id,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditQuery:
    """What an admin asks of the log; every part optional."""

    actor: str | None = None
    patient_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    before_id: int | None = None  # the page after the one that ended at this entry


def statement(query: AuditQuery) -> Select[AuditEntry]:
    """Every entry `query` matches, newest first."""
    found = select(AuditEntry).order_by(AuditEntry.id.desc())
    if query.actor:
        found = found.where(AuditEntry.actor == query.actor)
    if query.patient_id is not None:
        found = found.where(AuditEntry.patient_id == query.patient_id)
    if query.action:
        found = found.where(AuditEntry.action == query.action)
    if query.since is not None:
        found = found.where(AuditEntry.at >= query.since)
    if query.until is not None:
        found = found.where(AuditEntry.at < query.until)
    if query.before_id is not None:
        found = found.where(AuditEntry.id < query.before_id)
    return found


def entries(session: Session, query: AuditQuery, *, page: int = PAGE) -> Sequence[AuditEntry]:
    """One page of matching entries, newest first; one more than `page` is fetched so
    the caller knows whether another page follows (callers show `[:page]`)."""
    return session.scalars(statement(query).limit(page + 1)).all()


def actions(session: Session) -> list[str]:
    """Every action the log holds, for the admin's filter."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
