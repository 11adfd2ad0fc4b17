"""The inbox: every reply, newest first, filtered by triage, handled or not, office,
language or unknown number; staff mark replies handled and assign them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from followup.console.sessions import SignedIn
from followup.console.web import audit_view, needs, page, runtime_of, see_other
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.care import Office
from followup.models.replies import Triage
from followup.models.staff import Role, StaffMember
from followup.replies.conversations import assign, inbox, mark_handled

router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[SignedIn, Depends(needs(Role.STAFF))]


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    who: Staff,
    triage: str = "",
    handled: str = "",
    office: str = "",
    language: str = "",
    unknown: str = "",
) -> HTMLResponse:
    with runtime_of(request).sessions() as session:
        items = inbox(
            session,
            triage=triage or None,
            handled={"yes": True, "no": False}.get(handled),
            office=office or None,
            language=language or None,
            unknown_senders=unknown == "yes",
        )
        staff = list(
            session.scalars(select(StaffMember.name).where(StaffMember.disabled_at.is_(None)))
        )
    audit_view(
        request, who, "read-inbox", f"replies {', '.join(str(i.reply_id) for i in items) or 'none'}"
    )
    return page(
        request,
        "inbox.html",
        who,
        items=items,
        staff=staff,
        filters={
            "triage": triage,
            "handled": handled,
            "office": office,
            "language": language,
            "unknown": unknown,
        },
        triages=[t.value for t in Triage],
        offices=list(Office),
        query=request.url.query,
    )


@router.post("/replies/{reply_id}/handled", response_class=HTMLResponse)
def handled(reply_id: int, request: Request, who: Staff, back: str = Form("")) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        mark_handled(session, reply_id, by=who.name, now=utcnow())
    return see_other(_back(back))


@router.post("/replies/{reply_id}/assign", response_class=HTMLResponse)
def assign_reply(
    reply_id: int, request: Request, who: Staff, to: str = Form(""), back: str = Form("")
) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        assign(session, reply_id, staff_name=to or None)
    return see_other(_back(back))


def _back(query: str) -> str:
    return "/console/inbox" + (f"?{query}" if query else "")
