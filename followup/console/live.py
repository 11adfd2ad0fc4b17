"""What every console page keeps live: the open-alert and unhandled-inbox counts in
the navigation and the title, fetched by the page's script; a refused fetch tells the
page its session is over."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from followup.console.counts import counts
from followup.console.sessions import SignedIn
from followup.console.web import needs, runtime_of
from followup.models.staff import Role

router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[SignedIn, Depends(needs(Role.STAFF))]


@router.get("/counts")
def live_counts(request: Request, who: Staff) -> JSONResponse:
    with runtime_of(request).sessions() as session:
        found = counts(session)
    return JSONResponse({"alerts": found.alerts, "inbox": found.inbox})
