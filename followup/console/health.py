"""Delivery health: messages per state today and this week, those nobody can confirm
(settled here: mark sent, resend or cancel, each recorded), failures by provider
error code, and opt-outs (consent withdrawn) apart from patients who never consented."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from followup.console.sessions import SignedIn
from followup.console.web import Needs, RowId, page, runtime_of, see_other
from followup.db import transaction
from followup.delivery.report import (
    failures_by_code,
    needs_attention,
    never_consented,
    opt_outs,
    states_since,
)
from followup.delivery.settlement import ACTIONS, Settlement, settle_by_staff
from followup.models.base import utcnow
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeesDelivery = Annotated[SignedIn, Depends(Needs(Ability.SEE_DELIVERY))]


@router.get("/health", response_class=HTMLResponse)
def health(request: Request, who: SeesDelivery) -> HTMLResponse:
    runtime = runtime_of(request)
    zone = ZoneInfo(runtime.settings.clinic_timezone)
    now = utcnow()
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    week = now - timedelta(days=7)
    with runtime.sessions() as session:
        states_today, states_week = states_since(session, today, week)
        return page(
            request,
            "health.html",
            who,
            actions=ACTIONS,
            today=states_today,
            week=states_week,
            unknown=needs_attention(session),
            failures=failures_by_code(session, week),
            opt_outs=opt_outs(session, week),
            never_consented=never_consented(session, week),
        )


@router.post("/messages/{message_id}/settle", response_class=HTMLResponse)
def settle(
    message_id: RowId,
    request: Request,
    who: SeesDelivery,
    action: Annotated[Settlement, Form()],
    reason: str = Form("", max_length=300),
) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        settle_by_staff(session, message_id, action, by=who.name, reason=reason, now=utcnow())
    return see_other("/console/health")
