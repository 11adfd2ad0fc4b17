"""Open alerts, emergencies first and then the longest waiting: what the console's
Alerts page shows a page at a time and `followup alerts` lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, case, select
from sqlalchemy.orm import Session

from followup.models.care import Patient
from followup.models.replies import Alert, Reply, Triage

# 0 for an emergency, 1 for the rest: the first sort key.
URGENCY = case((Alert.level == Triage.EMERGENCY.value, 0), else_=1)


@dataclass(frozen=True)
class OpenAlert:
    id: int
    level: str
    created_at: datetime
    escalation_step: int
    notified: bool
    patient_ref: str | None  # None: a number that matches no patient
    patient_name: str | None
    phone: str | None  # the patient's, or the unknown sender's number
    reply: str
    readers: str
    model_probability: float | None

    @classmethod
    def of(cls, row: Row[*tuple[Any, ...]]) -> OpenAlert:
        """From a row of `open_alerts_query` (extra columns after these are passed over)."""
        return cls(
            row.id,
            row.level,
            row.created_at,
            row.escalation_step,
            row.notified_at is not None,
            row.ref,
            f"{row.first_name} {row.last_name}" if row.ref is not None else None,
            row.phone if row.ref is not None else row.from_address,
            row.body,
            row.readers,
            row.model_probability,
        )


def open_alerts_query() -> Select[*tuple[Any, ...]]:
    """Every alert not yet acknowledged, unordered (order by `URGENCY`, then age)."""
    return (
        select(
            Alert.id,
            Alert.level,
            Alert.created_at,
            Alert.escalation_step,
            Alert.notified_at,
            Patient.ref,
            Patient.first_name,
            Patient.last_name,
            Patient.phone,
            Reply.from_address,
            Reply.body,
            Reply.readers,
            Reply.model_probability,
        )
        .outerjoin(Patient, Alert.patient_id == Patient.id)
        .join(Reply, Alert.reply_id == Reply.id)
        .where(Alert.acknowledged_at.is_(None))
    )


def open_alerts(session: Session) -> list[OpenAlert]:
    """Every open alert, emergencies first, then the longest waiting."""
    ordered = open_alerts_query().order_by(URGENCY, Alert.created_at, Alert.id)
    return [OpenAlert.of(row) for row in session.execute(ordered)]
