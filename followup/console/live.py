"""What every console page keeps live: the open-alert and unhandled-inbox counts in
the navigation and the title, fetched by the page's script; a refused fetch tells the
page its session is over."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from followup.console.counts import counts
from followup.console.sessions import SignedIn
from followup.console.web import Needs, runtime_of
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
SeeAlerts = Annotated[SignedIn, Depends(Needs(Ability.SEE_ALERTS))]


@router.get("/counts")
def live_counts(request: Request, who: SeeAlerts) -> JSONResponse:
    with runtime_of(request).sessions() as session:
        found = counts(session)
    return JSONResponse({"alerts": found.alerts, "inbox": found.inbox})
