"""The audit log: who did what, when, from which address, to which patient.

Security events (sign-ins and their failures, lockouts, second factors, tokens),
staff's work on patients (alerts acknowledged, replies handled and assigned, consent
changed) and every view of patient data are written here, in the transaction of what
they record or, for views, committed before the data leaves. Admins read it filtered by
member, patient, action and date, a page at a time, newest first (the console pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from followup.models.base import utcnow
from followup.models.staff import AuditEntry

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


def entries(query: AuditQuery) -> Select[AuditEntry]:
    """The matching entries, unordered: the caller orders and pages (newest first)."""
    statement = select(AuditEntry)
    if query.actor:
        statement = statement.where(AuditEntry.actor == query.actor)
    if query.patient_id is not None:
        statement = statement.where(AuditEntry.patient_id == query.patient_id)
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.since is not None:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEntry.at < query.until)
    return statement


def statement(query: AuditQuery) -> Select[AuditEntry]:
    """Every entry `query` matches, newest first (an export of them)."""
    return entries(query).order_by(AuditEntry.id.desc())


def actions(session: Session) -> list[str]:
    """Every action the log holds, for the admin's filter."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
