"""The inbox: every reply, newest first, a page at a time, filtered by triage, handled
or not, office, language, unknown number or "assigned to me"; staff mark replies
handled and assign them (one list of staff names per page, not one per reply)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.patients import LANGUAGES
from followup.console.paging import Cursor, Key, Paging
from followup.console.sessions import SignedIn
from followup.console.web import (
    Needs,
    RowId,
    audit_view,
    client_address,
    page,
    runtime_of,
    see_other,
    with_query,
)
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.care import Office
from followup.models.replies import Reply, Triage
from followup.models.staff import StaffMember
from followup.replies.conversations import assign, mark_handled
from followup.replies.inbox import InboxFilter, InboxItem, inbox
from followup.staff import audit
from followup.staff.access import Ability

router = APIRouter(prefix="/console", include_in_schema=False)
WorksInbox = Annotated[SignedIn, Depends(Needs(Ability.WORK_INBOX))]
Choice = Literal["", "yes", "no"]
REPLIES = Paging(
    "inbox", [Key(Reply.received_at, datetime, descending=True), Key(Reply.id, int, True)]
)


@dataclass(frozen=True)
class InboxAsked:
    """The inbox's filters as the page (and its export) was asked: what they choose,
    and the query parameters as given (blank: any)."""

    chosen: InboxFilter
    shown: dict[str, str]


def inbox_filters(
    who: WorksInbox,
    triage: Triage | Literal[""] = "",
    handled: Choice = "",
    office: Office | Literal[""] = "",
    language: str = Query("", max_length=10),
    unknown: Choice = "",
    mine: Choice = "",
) -> InboxAsked:
    """A dependency: the inbox's query parameters ("mine": assigned to the member asking)."""
    language = language if language in LANGUAGES else ""
    chosen = InboxFilter(
        triage=triage or None,
        handled={"yes": True, "no": False}.get(handled),
        office=office or None,
        language=language or None,
        unknown_senders=unknown == "yes",
        assigned_to=who.staff_id if mine == "yes" else None,
    )
    shown = {
        "triage": triage,
        "handled": handled,
        "office": office,
        "language": language,
        "unknown": unknown,
        "mine": mine,
    }
    return InboxAsked(chosen, shown)


Filters = Annotated[InboxAsked, Depends(inbox_filters)]


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request, who: WorksInbox, asked: Filters, cursor: Cursor = ""
) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        found = REPLIES.page(
            session, inbox(asked.chosen), cursor=cursor, secret=runtime.settings.secret_key
        )
        staff = list(
            session.scalars(
                select(StaffMember.name)
                .where(StaffMember.disabled_at.is_(None))
                .order_by(StaffMember.name)
            )
        )
    items = [InboxItem._make(row[: len(InboxItem._fields)]) for row in found.rows]
    audit_view(
        request, who, "read-inbox", f"replies {', '.join(str(i.reply_id) for i in items) or 'none'}"
    )
    return page(
        request,
        "inbox.html",
        who,
        found=found,
        items=items,
        staff=staff,
        filters=asked.shown,
        triages=[t.value for t in Triage],
        offices=list(Office),
        query=request.url.query,
    )


@router.post("/replies/{reply_id}/handled", response_class=HTMLResponse)
def handled(
    reply_id: RowId, request: Request, who: WorksInbox, back: str = Form("", max_length=500)
) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        mark_handled(session, reply_id, by=who.name, now=utcnow())
        _audit(request, session, who, "reply-handled", reply_id)
    return see_other(with_query("/console/inbox", back))


@router.post("/replies/{reply_id}/assign", response_class=HTMLResponse)
def assign_reply(
    reply_id: RowId,
    request: Request,
    who: WorksInbox,
    to: str = Form("", max_length=100),
    back: str = Form("", max_length=500),
) -> HTMLResponse:
    to = "" if to.strip().lower() == "nobody" else to.strip()  # the box's placeholder
    with transaction(runtime_of(request).sessions) as session:
        assign(session, reply_id, staff_name=to or None)
        _audit(request, session, who, "reply-assign", reply_id, f" to {to or 'nobody'}")
    return see_other(with_query("/console/inbox", back))


def _audit(
    request: Request, session: Session, who: SignedIn, action: str, reply_id: int, more: str = ""
) -> None:
    audit.record(
        session,
        actor=who.name,
        action=action,
        address=client_address(request),
        detail=f"reply {reply_id}{more}",
        patient_id=session.get_one(Reply, reply_id).patient_id,
    )
