"""The counts every console page shows in its navigation and title."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.models.replies import Alert, Reply


@dataclass(frozen=True)
class Counts:
    alerts: int  # open (not acknowledged)
    inbox: int  # replies nobody has marked handled


def counts(session: Session) -> Counts:
    alerts = session.scalar(
        select(func.count()).select_from(Alert).where(Alert.acknowledged_at.is_(None))
    )
    inbox = session.scalar(
        select(func.count()).select_from(Reply).where(Reply.handled_at.is_(None))
    )
    return Counts(alerts or 0, inbox or 0)
