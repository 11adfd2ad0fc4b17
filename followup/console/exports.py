"""Export CSV: each list page's link asks for the same list with the same query
parameters (its filters) and gets every matching row, streamed (`followup.exports`).
Exporting needs the list's own ability and `EXPORT`; each export is in the audit log."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from followup.console.admin import AuditFilters
from followup.console.alerts import clinic_day
from followup.console.inbox import Filters
from followup.console.sessions import SignedIn
from followup.console.web import Needs, client_address, runtime_of
from followup.exports import lists
from followup.exports.audited import audited_export
from followup.exports.sheet import filename
from followup.models.base import utcnow
from followup.models.replies import Triage
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
Patients = Annotated[SignedIn, Depends(Needs(Ability.SEE_PATIENTS, Ability.EXPORT))]
Inbox = Annotated[SignedIn, Depends(Needs(Ability.WORK_INBOX, Ability.EXPORT))]
Alerts = Annotated[SignedIn, Depends(Needs(Ability.SEE_ALERTS, Ability.EXPORT))]
Campaigns = Annotated[SignedIn, Depends(Needs(Ability.RUN_CAMPAIGNS, Ability.EXPORT))]
Auditor = Annotated[SignedIn, Depends(Needs(Ability.READ_AUDIT, Ability.EXPORT))]


@router.get("/patients.csv")
def patients_csv(
    request: Request, who: Patients, q: str = Query("", max_length=100)
) -> StreamingResponse:
    return _send(request, who, lists.patients(q=q, zone=_zone(request)))


@router.get("/inbox.csv")
def inbox_csv(request: Request, who: Inbox, asked: Filters) -> StreamingResponse:
    listing = lists.replies(asked.chosen, role=who.role, zone=_zone(request), shown=asked.shown)
    return _send(request, who, listing)


@router.get("/alerts.csv")
def alerts_csv(
    request: Request,
    who: Alerts,
    state: Literal["", "open", "closed"] = "",
    level: Triage | Literal[""] = "",
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    by: str = Query("", max_length=100),
) -> StreamingResponse:
    """Open alerts (the Alerts page), closed ones (Closed, with its filters), or both."""
    zone = _zone(request)
    listing = lists.alerts(
        zone=zone,
        state=state,
        level=level or None,
        since=clinic_day(since, zone),
        until=clinic_day(until, zone, after=True),
        by=by or None,
        filters={"level": level, "since": since, "until": until, "by": by},
    )
    return _send(request, who, listing)


@router.get("/campaigns/{campaign}/results.csv")
def campaign_csv(campaign: str, request: Request, who: Campaigns) -> StreamingResponse:
    with runtime_of(request).sessions() as session:
        listing = lists.campaign(session, name=campaign, zone=_zone(request))
    return _send(request, who, listing)


@router.get("/audit.csv")
def audit_csv(request: Request, who: Auditor, asked: AuditFilters) -> StreamingResponse:
    zone = _zone(request)
    with runtime_of(request).sessions() as session:
        query = asked.query(session, zone)
    return _send(request, who, lists.audit_log(query=query, zone=zone, filters=asked.shown()))


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(runtime_of(request).settings.clinic_timezone)


def _send(request: Request, who: SignedIn, listing: lists.Listing) -> StreamingResponse:
    chunks = audited_export(
        runtime_of(request).sessions, listing, actor=who.name, address=client_address(request)
    )
    name = filename(listing.title or listing.name, utcnow().astimezone(_zone(request)).date())
    return StreamingResponse(
        (chunk.encode() for chunk in chunks),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
