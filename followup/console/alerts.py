"""Alerts: open alerts, emergencies first, with their age and escalation; the table
refreshes itself (a few lines of script) and reads fine without. Clinicians
acknowledge, with a note; staff notifications link to an alert's page here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse

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
from followup.models.base import utcnow
from followup.models.replies import Alert
from followup.replies.alerts import OpenAlert, acknowledge, open_alerts, view_alert
from followup.staff import audit
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeeAlerts = Annotated[SignedIn, Depends(Needs(Ability.SEE_ALERTS))]
Acknowledges = Annotated[SignedIn, Depends(Needs(Ability.ACKNOWLEDGE_ALERTS))]


@router.get("/", response_class=HTMLResponse)
@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, who: SeeAlerts) -> HTMLResponse:
    return page(request, "alerts.html", who, alerts=_open(request), now=utcnow())


@router.get("/alerts/table", response_class=HTMLResponse)
def alerts_table(request: Request, who: SeeAlerts) -> HTMLResponse:
    """The table alone: what the page's script fetches every few seconds."""
    return page(request, "alerts-table.html", who, alerts=_open(request), now=utcnow())


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert(alert_id: RowId, request: Request, who: SeeAlerts) -> HTMLResponse:
    with runtime_of(request).sessions() as session:
        view = view_alert(session, alert_id)
    if view is None:
        raise HTTPException(404, f"no alert #{alert_id}")
    whose = f"patient {view.patient.ref}" if view.patient else "an unknown number"
    audit_view(
        request,
        who,
        "read-alert",
        f"alert {alert_id}, {whose}",
        patient_id=view.patient.id if view.patient else None,
    )
    return page(request, "alert.html", who, view=view, now=utcnow())


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


def _open(request: Request) -> list[OpenAlert]:
    with runtime_of(request).sessions() as session:
        return list(open_alerts(session))
