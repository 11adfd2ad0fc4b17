"""Staff alerts: a reply with a warning sign reaches a person, and keeps trying until
someone acknowledges it.

An alert is one row per reply; its notifications are ordinary outbox rows (purpose
`alert`, recipient set), so they go through the same dispatch path, with no quiet
hours and no patient consent involved. They carry the minimum (level, alert number,
a link): no name, phone or reply text. Raising an alert also pauses the patient's
series. Escalation (`followup.replies.escalation`) repeats it, then reaches the second tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.care.clinic_hours import ClinicHours
from followup.care.series import TRIAGE_BY, pause_series
from followup.config import Settings
from followup.content.links import Links
from followup.content.render import Renderer
from followup.db import insert_rows, rows_changed
from followup.exceptions import InvalidInput, NotFound
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.replies import Alert, AlertEvent, Reply, Triage

# A notification nobody could send within a day is of no more use.
NOTIFY_FOR = timedelta(hours=24)
SYSTEM = "followup"


class AlertReply(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def triage(self) -> str | None: ...


@dataclass(frozen=True)
class Raised:
    """An alert as escalation needs it: enough to notify staff, nothing about health."""

    id: int
    patient_id: int | None  # None: the reply came from a number that matches no patient
    level: Triage


def raise_alerts(
    session: Session,
    raised: Sequence[tuple[AlertReply, int | None]],
    *,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> set[int]:
    """Create the alert for each (reply, patient id or None for an unknown number),
    queue its notifications to the on-call staff and pause the patient's series. A
    reply that has its alert already gets no second one. Returns the ids of the
    replies whose alert notified somebody."""
    if not raised:
        return set()
    levels = {reply.id: Triage(reply.triage or Triage.ATTENTION) for reply, _ in raised}
    routes = settings.oncall
    rows = [
        {
            "reply_id": reply.id,
            "patient_id": patient_id,
            "level": levels[reply.id].value,
            "created_at": now,
            "notified_at": now if routes else None,
            "escalation_step": 0,
            "escalate_at": next_escalation(levels[reply.id], now, settings),
        }
        for reply, patient_id in raised
    ]
    stored = insert_rows(session, Alert, rows, unique="reply_id", returning=("reply_id", "id"))
    created = {row.reply_id: row.id for row in stored}
    new = [
        Raised(created[reply.id], patient_id, levels[reply.id])
        for reply, patient_id in raised
        if reply.id in created
    ]
    notified = queue_notices(
        session, new, routes, step=0, settings=settings, renderer=renderer, now=now
    )
    record_events(
        session,
        [
            (
                alert.id,
                "notified" if routes else "nobody notified",
                notified if routes else "no on-call route is set (FOLLOWUP_ONCALL_*)",
            )
            for alert in new
        ],
        by=SYSTEM,
        now=now,
    )
    pause_series(
        session,
        [
            (a.patient_id, f"{a.level.value} reply (alert #{a.id})")
            for a in new
            if a.patient_id is not None
        ],
        by=TRIAGE_BY,
        now=now,
        settings=settings,
    )
    return {reply.id for reply, _ in raised if reply.id in created and routes}


def next_escalation(level: Triage, moment: datetime, settings: Settings) -> datetime:
    """When an alert raised or escalated at `moment` escalates unless acknowledged:
    emergencies in wall-clock minutes, attention alerts in clinic hours."""
    if level is Triage.EMERGENCY:
        return moment + timedelta(minutes=settings.escalate_emergency_minutes)
    wait = timedelta(minutes=settings.escalate_attention_minutes)
    return ClinicHours.from_settings(settings).after_open_time(moment, wait)


def queue_notices(
    session: Session,
    alerts: Sequence[Raised],
    routes: Sequence[tuple[str, str]],
    *,
    step: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> str:
    """Queue one notification per alert and route; returns what was queued, in words."""
    links, notices = Links(settings), []
    for alert in alerts:
        context = notice_context(alert, step, links)
        notices += [
            _notice(channel, address, alert, context, renderer, now) for channel, address in routes
        ]
    insert_rows(session, Message, notices)
    channels = sorted({channel for channel, _ in routes})
    return f"{len(routes)} notification(s) queued ({', '.join(channels)})" if routes else ""


def notice_context(alert: Raised, step: int, links: Links) -> dict[str, Any]:
    """What staff notifications (`templates/staff/`) may use: no patient detail."""
    return {
        "alert": {"id": alert.id, "level": alert.level.value, "step": step},
        "link": links.alert_url(alert.id),
    }


def _notice(
    channel: str,
    address: str,
    alert: Raised,
    context: dict[str, Any],
    renderer: Renderer,
    now: datetime,
) -> dict[str, Any]:
    """The outbox row that tells one staff address about an alert."""
    body = renderer.staff(f"alert-{channel}.txt", context)
    subject = renderer.staff("alert-email.subject.txt", context) if channel == "email" else None
    return {
        "patient_id": alert.patient_id,
        "alert_id": alert.id,
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


def record_events(
    session: Session, events: Sequence[tuple[int, str, str]], *, by: str, now: datetime
) -> None:
    """Write (alert id, action, detail) steps to the alerts' history."""
    insert_rows(
        session,
        AlertEvent,
        [
            {"alert_id": alert_id, "at": now, "action": action, "detail": detail, "by": by}
            for alert_id, action, detail in events
        ],
    )


@dataclass(frozen=True)
class AlertView:
    """What the alert page shows staff: the alert, its history, the patient, replies."""

    alert: Alert
    events: list[AlertEvent]
    patient: Patient | None  # None: the reply came from a number that matches no patient
    reply: Reply  # the reply that raised it
    replies: list[Reply]  # the sender's recent replies, newest first


def view_alert(session: Session, alert_id: int) -> AlertView | None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    reply = session.get_one(Reply, alert.reply_id)
    patient = session.get(Patient, alert.patient_id) if alert.patient_id is not None else None
    sender = (
        Reply.patient_id == patient.id
        if patient is not None
        else (Reply.patient_id.is_(None) & (Reply.from_address == reply.from_address))
    )
    replies = session.scalars(
        select(Reply).where(sender).order_by(Reply.received_at.desc()).limit(10)
    ).all()
    events = session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    ).all()
    return AlertView(alert, list(events), patient, reply, list(replies))


def acknowledge(session: Session, *, alert_id: int, by: str, now: datetime, note: str = "") -> None:
    """Record who took the alert on; this stops its escalation and marks its reply
    handled in the inbox."""
    if not by.strip():
        raise InvalidInput("say who acknowledges the alert (--by)")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert #{alert_id}")
    changed = rows_changed(
        session,
        update(Alert)
        .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by.strip(), escalate_at=None),
    )
    if not changed:
        raise InvalidInput(f"alert #{alert_id} was already acknowledged")
    # One state for staff: the alert's reply is handled by acknowledging the alert.
    session.execute(
        update(Reply)
        .where(Reply.id == alert.reply_id, Reply.handled_at.is_(None))
        .values(handled_at=now, handled_by=by.strip())
    )
    record_events(session, [(alert_id, "acknowledged", note.strip())], by=by.strip(), now=now)
