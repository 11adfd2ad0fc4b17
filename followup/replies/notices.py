"""What really happened to an alert's staff notices: queued, sent, delivered or
failed, one by one. An alert says on-call staff were "told" only once a notice to
them has left (sent or delivered), never when it is merely queued."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.models.outbox import Message, MessageStatus, Purpose

LEFT = {MessageStatus.SENT.value, MessageStatus.DELIVERED.value}
WAITING = {
    MessageStatus.SCHEDULED.value,
    MessageStatus.QUEUED.value,
    MessageStatus.SENDING.value,
    MessageStatus.UNKNOWN.value,
}


@dataclass(frozen=True)
class Notice:
    id: int
    channel: str
    recipient: str | None
    status: str
    created_at: datetime
    sent_at: datetime | None
    error: str | None

    @property
    def state(self) -> str:
        """queued, sent, delivered or failed, in the words the console shows."""
        if self.status in LEFT:
            return self.status
        if self.status in WAITING:
            return "queued" if self.status != MessageStatus.UNKNOWN else "unconfirmed"
        return "failed"


def notices(session: Session, alert_ids: Iterable[int]) -> dict[int, list[Notice]]:
    """Each alert's notices, oldest first."""
    ids = list(alert_ids)
    found: dict[int, list[Notice]] = defaultdict(list)
    if not ids:
        return found
    rows = session.execute(
        select(
            Message.alert_id,
            Message.id,
            Message.channel,
            Message.recipient,
            Message.status,
            Message.created_at,
            Message.sent_at,
            Message.last_error,
        )
        .where(Message.purpose == Purpose.ALERT, Message.alert_id.in_(ids))
        .order_by(Message.id)
    )
    for row in rows:
        found[row.alert_id].append(
            Notice(
                row.id,
                row.channel,
                row.recipient,
                row.status,
                row.created_at,
                row.sent_at,
                row.last_error,
            )
        )
    return found


def told(found: list[Notice]) -> str:
    """One line for an alert's notices: who has really been told."""
    if not found:
        return "nobody notified"
    states = {notice.state for notice in found}
    if states & LEFT:
        return "on-call told" + (" (delivered)" if "delivered" in states else " (sent)")
    if states <= {"failed"}:
        return "notice failed: nobody told"
    return "notice queued, not sent yet"
