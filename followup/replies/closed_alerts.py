"""Acknowledged alerts, for looking back: filtered by level, day and who took them on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, select
from sqlalchemy.orm import Session

from followup.models.care import Patient
from followup.models.replies import Alert


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

    @classmethod
    def of(cls, row: Row[*tuple[Any, ...]]) -> ClosedAlert:
        """From a row of `alerts_statement` (extra columns after these are passed over)."""
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])


def alerts_statement(
    *,
    acknowledged: bool | None = True,
    level: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
) -> Select[*tuple[Any, ...]]:
    """Alerts the filters match, as `ClosedAlert` columns, in no order: acknowledged
    (True), open (False) or both (None); `since`/`until` bound when they were raised."""
    conditions: list[ColumnElement[bool]] = []
    if acknowledged is not None:
        done = Alert.acknowledged_at.is_not(None)
        conditions.append(done if acknowledged else ~done)
    if level:
        conditions.append(Alert.level == level)
    if since is not None:
        conditions.append(Alert.created_at >= since)
    if until is not None:
        conditions.append(Alert.created_at < until)
    if by:
        conditions.append(Alert.acknowledged_by == by)
    return (
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
    )


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
