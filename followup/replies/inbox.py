"""The inbox: every reply, filtered by triage, handled or not, office, language,
unknown number or whom it is assigned to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, select

from followup.models.care import Patient, Visit
from followup.models.replies import Alert, Reply
from followup.models.staff import StaffMember


class InboxItem(NamedTuple):
    reply_id: int
    received_at: datetime
    patient_ref: str | None
    patient_name: str | None
    from_address: str
    channel: str
    body: str
    pain: int | None
    triage: str | None
    handled_at: datetime | None
    handled_by: str | None
    assigned_to: str | None
    alert_id: int | None  # a reply that raised an alert is handled through it
    # "reschedule": an R to an appointment reminder, for the front desk.
    keyword: str | None


@dataclass(frozen=True)
class InboxFilter:
    """What staff choose to see of the inbox; every part optional (office: of the
    patient's latest visit; `assigned_to`: a staff member's id)."""

    triage: str | None = None
    handled: bool | None = None
    office: str | None = None
    language: str | None = None
    unknown_senders: bool = False
    assigned_to: int | None = None


def inbox(chosen: InboxFilter) -> Select[*tuple[Any, ...]]:
    """The replies `chosen` matches, each row an `InboxItem`'s fields, in no order: the
    inbox pages them newest first, an export takes them all."""
    assignee = StaffMember.__table__.alias("assignee")
    query = (
        select(
            Reply.id,
            Reply.received_at,
            Patient.ref,
            Patient.first_name + " " + Patient.last_name,
            Reply.from_address,
            Reply.channel,
            Reply.body,
            Reply.pain,
            Reply.triage,
            Reply.handled_at,
            Reply.handled_by,
            assignee.c.name,
            Alert.id,
            Reply.keyword,
        )
        .outerjoin(Patient, Reply.patient_id == Patient.id)
        .outerjoin(Alert, Alert.reply_id == Reply.id)
        .outerjoin(assignee, Reply.assigned_to == assignee.c.id)
    )
    conditions: list[ColumnElement[bool]] = []
    if chosen.triage:
        conditions.append(Reply.triage == chosen.triage)
    if chosen.handled is not None:
        handled = Reply.handled_at.is_not(None)
        conditions.append(handled if chosen.handled else ~handled)
    if chosen.language:
        conditions.append(Patient.language == chosen.language)
    if chosen.unknown_senders:
        conditions.append(Reply.patient_id.is_(None))
    if chosen.assigned_to is not None:
        conditions.append(Reply.assigned_to == chosen.assigned_to)
    if chosen.office:
        latest = (
            select(Visit.office)
            .where(Visit.patient_id == Patient.id, Visit.cancelled_at.is_(None))
            .order_by(Visit.visited_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        conditions.append(latest == chosen.office)
    return query.where(*conditions)
