"""Staff alerts: a reply with a warning sign reaches on-call staff at once.

An alert is one row per reply; its notifications are ordinary outbox rows (purpose
`alert`, recipient set), so they go through the same dispatch path, ahead of nothing
and behind nothing, with no quiet hours and no patient consent involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.db import insert_rows, rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.links import Links
from followup.models import Alert, Message, MessageStatus, Patient, Purpose, Reply, Triage
from followup.render import Renderer

ADVICE = {
    Triage.EMERGENCY: "Signs that need care today: call the patient now; they were told to call 911.",
    Triage.ATTENTION: "Please call the patient back today.",
}
NOTIFY_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class OpenAlert:
    id: int
    level: str
    created_at: datetime
    patient_ref: str
    patient_name: str
    phone: str | None
    reply: str


class AlertPatient(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def ref(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...


class AlertReply(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def pain(self) -> int | None: ...
    @property
    def triage(self) -> str | None: ...
    @property
    def reasons(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...


def raise_alerts(
    session: Session,
    raised: Sequence[tuple[AlertReply, AlertPatient]],
    *,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> None:
    """Create the alert for each reply and queue its notifications. A reply that has
    its alert already gets no second one."""
    if not raised:
        return
    levels = {reply.id: Triage(reply.triage or Triage.ATTENTION) for reply, _ in raised}
    alerts = [
        {
            "reply_id": reply.id,
            "patient_id": patient.id,
            "level": levels[reply.id].value,
            "created_at": now,
        }
        for reply, patient in raised
    ]
    stored = insert_rows(session, Alert, alerts, unique="reply_id", returning=("reply_id", "id"))
    created: dict[int, int] = {row.reply_id: row.id for row in stored}
    links, notices = Links(settings), []
    for reply, patient in raised:
        if reply.id not in created:
            continue
        alert_id = created[reply.id]
        context = alert_context(alert_id, levels[reply.id], patient, reply, settings, links)
        for channel, address in settings.oncall:
            notices.append(_notice(channel, address, patient.id, context, renderer, now))
    insert_rows(session, Message, notices)


def _notice(
    channel: str,
    address: str,
    patient_id: int,
    context: dict[str, Any],
    renderer: Renderer,
    now: datetime,
) -> dict[str, Any]:
    """The outbox row that tells one on-call address about an alert."""
    body = renderer.staff(f"alert-{channel}.txt", context)
    subject = renderer.staff("alert-email.subject.txt", context) if channel == "email" else None
    return {
        "patient_id": patient_id,
        "channel": channel,
        "purpose": Purpose.ALERT.value,
        "template": f"staff/alert-{channel}",
        "email_fallback": False,
        "status": MessageStatus.SCHEDULED.value,
        "due_at": now,
        "expires_at": now + NOTIFY_FOR,
        "attempts": 0,
        "recipient": address,
        "subject": " ".join(subject.split()) if subject else None,
        "body": " ".join(body.split()) if channel == "sms" else body.strip() + "\n",
        "updated_at": now,
        "created_at": now,
    }


def alert_context(
    alert_id: int,
    level: Triage,
    patient: AlertPatient,
    reply: AlertReply,
    settings: Settings,
    links: Links,
) -> dict[str, Any]:
    """What staff notifications (`templates/staff/`) may use."""
    zone = ZoneInfo(settings.default_timezone)
    return {
        "alert": {"id": alert_id, "level": level.value, "advice": ADVICE[level]},
        "patient": {
            "name": f"{patient.first_name} {patient.last_name}",
            "ref": patient.ref,
            "phone": patient.phone,
            "email": patient.email,
        },
        "reply": {
            "body": reply.body,
            "pain": reply.pain,
            "reasons": reply.reasons or "-",
            "received": f"{reply.received_at.astimezone(zone):%a %b %d %H:%M %Z}",
        },
        "link": links.alert_url(alert_id),
    }


@dataclass(frozen=True)
class AlertView:
    """What the alert page shows staff: the alert, the patient, recent replies."""

    alert: Alert
    patient: Patient
    replies: list[Reply]


def view_alert(session: Session, alert_id: int) -> AlertView | None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    patient = session.get_one(Patient, alert.patient_id)
    replies = session.scalars(
        select(Reply)
        .where(Reply.patient_id == patient.id)
        .order_by(Reply.received_at.desc())
        .limit(10)
    ).all()
    return AlertView(alert, patient, list(replies))


def open_alerts(session: Session) -> list[OpenAlert]:
    rows = session.execute(
        select(
            Alert.id,
            Alert.level,
            Alert.created_at,
            Patient.ref,
            Patient.first_name,
            Patient.last_name,
            Patient.phone,
            Reply.body,
        )
        .join(Patient, Alert.patient_id == Patient.id)
        .join(Reply, Alert.reply_id == Reply.id)
        .where(Alert.acknowledged_at.is_(None))
        .order_by(Alert.level != Triage.EMERGENCY.value, Alert.created_at)
    ).all()
    return [
        OpenAlert(
            row.id,
            row.level,
            row.created_at,
            row.ref,
            f"{row.first_name} {row.last_name}",
            row.phone,
            row.body,
        )
        for row in rows
    ]


def acknowledge(session: Session, *, alert_id: int, by: str, now: datetime) -> None:
    if not by.strip():
        raise InvalidInput("say who acknowledges the alert (--by)")
    if session.get(Alert, alert_id) is None:
        raise NotFound(f"no alert #{alert_id}")
    changed = rows_changed(
        session,
        update(Alert)
        .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by.strip()),
    )
    if not changed:
        raise InvalidInput(f"alert #{alert_id} was already acknowledged")
