"""Acknowledged alerts, for looking back: filtered by level, day and who took them on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from followup.models.care import Patient
from followup.models.replies import Alert

CLOSED_PAGE = 200


@dataclass(frozen=True)
class ClosedAlert:
    id: int
    level: str
    created_at: datetime
    acknowledged_at: datetime | None  # never None here: only acknowledged alerts
    acknowledged_by: str | None
    escalation_step: int
    patient_ref: str | None  # None: a number that matches no patient
    patient_name: str | None


def closed_alerts(
    session: Session,
    *,
    level: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
) -> list[ClosedAlert]:
    """Acknowledged alerts, the latest first; `since`/`until` bound when they were raised."""
    conditions: list[ColumnElement[bool]] = [Alert.acknowledged_at.is_not(None)]
    if level:
        conditions.append(Alert.level == level)
    if since is not None:
        conditions.append(Alert.created_at >= since)
    if until is not None:
        conditions.append(Alert.created_at < until)
    if by:
        conditions.append(Alert.acknowledged_by == by)
    rows = session.execute(
        select(
            Alert.id,
            Alert.level,
            Alert.created_at,
            Alert.acknowledged_at,
            Alert.acknowledged_by,
            Alert.escalation_step,
            Patient.ref,
            Patient.first_name + " " + Patient.last_name,
        )
        .outerjoin(Patient, Alert.patient_id == Patient.id)
        .where(*conditions)
        .order_by(Alert.acknowledged_at.desc(), Alert.id.desc())
        .limit(CLOSED_PAGE)
    ).all()
    return [
        ClosedAlert(
            row.id,
            row.level,
            row.created_at,
            row.acknowledged_at,
            row.acknowledged_by,
            row.escalation_step,
            row.ref,
            row[7],
        )
        for row in rows
    ]


def acknowledgers(session: Session) -> list[str]:
    """Everyone who has acknowledged an alert, for the filter."""
    return list(
        session.scalars(
            select(Alert.acknowledged_by)
            .where(Alert.acknowledged_by.is_not(None))
            .distinct()
            .order_by(Alert.acknowledged_by)
        )
    )
