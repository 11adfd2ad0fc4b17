"""Alerts: open alerts, emergencies first, with their wait and what really happened to
their notices; the table updates in place (a few lines of script) and reads fine
without. Clinicians acknowledge, with a note, which also handles the alert's reply;
acknowledged alerts stay findable under Closed, with their history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from followup.console.chart import pain_chart
from followup.console.paging import Cursor, Key, Paging
from followup.console.patients import goes_out, pain_scores
from followup.console.sessions import SignedIn
from followup.console.web import (
    Needs,
    RowId,
    audit_view,
    client_address,
    page,
    runtime_of,
    see_other,
)
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.care import Visit
from followup.models.replies import Alert, Triage
from followup.replies.alerts import acknowledge, view_alert
from followup.replies.closed_alerts import ClosedAlert, acknowledgers, alerts_statement
from followup.replies.conversations import thread
from followup.replies.notices import Notice, notices, told
from followup.replies.open_alerts import URGENCY, OpenAlert, open_alerts_query
from followup.schedule import start_of_day
from followup.staff import audit
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeeAlerts = Annotated[SignedIn, Depends(Needs(Ability.SEE_ALERTS))]
Acknowledges = Annotated[SignedIn, Depends(Needs(Ability.ACKNOWLEDGE_ALERTS))]
OPEN = Paging(
    "open-alerts", [Key(URGENCY, int), Key(Alert.created_at, datetime), Key(Alert.id, int)]
)
CLOSED = Paging(
    "closed-alerts",
    [Key(Alert.acknowledged_at, datetime, descending=True), Key(Alert.id, int, True)],
)


@router.get("/", response_class=HTMLResponse)
@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, who: SeeAlerts, cursor: Cursor = "") -> HTMLResponse:
    return page(request, "alerts.html", who, **_open(request, cursor))


@router.get("/alerts/table", response_class=HTMLResponse)
def alerts_table(request: Request, who: SeeAlerts, cursor: Cursor = "") -> HTMLResponse:
    """The table alone (of the same page): what the page's script fetches every few
    seconds."""
    return page(request, "alerts-table.html", who, **_open(request, cursor))


@router.get("/alerts/closed", response_class=HTMLResponse)
def closed(
    request: Request,
    who: SeeAlerts,
    level: str = "",
    since: str = "",
    until: str = "",
    by: str = "",
    cursor: Cursor = "",
) -> HTMLResponse:
    runtime = runtime_of(request)
    zone = ZoneInfo(runtime.settings.clinic_timezone)
    if level and level not in {t.value for t in Triage}:
        raise InvalidInput(f"no alert level {level!r}")
    query = alerts_statement(
        level=level or None,
        since=clinic_day(since, zone),
        until=clinic_day(until, zone, after=True),
        by=by or None,
    )
    with runtime.sessions() as session:
        found = CLOSED.page(session, query, cursor=cursor, secret=runtime.settings.secret_key)
        people = acknowledgers(session)
    return page(
        request,
        "alerts-closed.html",
        who,
        found=found,
        alerts=[ClosedAlert.of(row) for row in found.rows],
        people=people,
        levels=[Triage.EMERGENCY.value, Triage.ATTENTION.value],
        filters={"level": level, "since": since, "until": until, "by": by},
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert(alert_id: RowId, request: Request, who: SeeAlerts) -> HTMLResponse:
    runtime = runtime_of(request)
    zone = ZoneInfo(runtime.settings.clinic_timezone)
    now = utcnow()
    with runtime.sessions() as session:
        view = view_alert(session, alert_id)
        if view is None:
            raise HTTPException(404, f"no alert #{alert_id}")
        sent = notices(session, [alert_id])[alert_id]
        patient = view.patient
        entries = thread(session, patient.id) if patient else []
        scores = None
        if patient is not None and who.can(Ability.READ_PAIN):
            scores = pain_scores(session, patient.id)
        visits = session.scalars(
            select(Visit.visited_at)
            .where(Visit.patient_id == view.alert.patient_id, Visit.cancelled_at.is_(None))
            .order_by(Visit.visited_at)
        ).all()
    whose = f"patient {patient.ref}" if patient else "an unknown number"
    audit_view(
        request,
        who,
        "read-alert",
        f"alert {alert_id}, {whose}",
        patient_id=patient.id if patient else None,
    )
    return page(
        request,
        "alert.html",
        who,
        view=view,
        patient=patient,
        notices=sent,
        told=told(sent),
        entries=entries,
        goes_out=lambda e: goes_out(e, patient, runtime.settings, now) if patient else e.at,
        scores=scores,
        chart=None if scores is None else pain_chart(scores, list(visits), zone),
    )


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
def ack(
    alert_id: RowId, request: Request, who: Acknowledges, note: str = Form("", max_length=500)
) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        acknowledge(session, alert_id=alert_id, by=who.name, now=utcnow(), note=note)
        audit.record(
            session,
            actor=who.name,
            action="alert-acknowledge",
            address=client_address(request),
            detail=f"alert {alert_id}",
            patient_id=session.get_one(Alert, alert_id).patient_id,
        )
    return see_other(f"/console/alerts/{alert_id}")


def _open(request: Request, cursor: str) -> dict[str, Any]:
    """A page of open alerts, and for each what its notices really did."""
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        found = OPEN.page(
            session, open_alerts_query(), cursor=cursor, secret=runtime.settings.secret_key
        )
        shown = [OpenAlert.of(row) for row in found.rows]
        sent: dict[int, list[Notice]] = notices(session, [a.id for a in shown])
    told_by_id = {a.id: told(sent.get(a.id, [])) for a in shown}
    return {"found": found, "alerts": shown, "told": told_by_id, "cursor": cursor}


def clinic_day(raw: str, zone: ZoneInfo, *, after: bool = False) -> datetime | None:
    """The start of a day given as YYYY-MM-DD on the clinic's clock (of the next day
    for an `until` bound, so the day itself is included)."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"not a date: {raw!r} (YYYY-MM-DD)") from exc
    return start_of_day(day + timedelta(days=1) if after else day, zone)
