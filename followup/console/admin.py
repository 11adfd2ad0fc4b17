"""Admin: staff accounts (add, disable, new password link, reset second factor, API
tokens), which roles must give a second factor, and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.console.sessions import SignedIn, end_sessions
from followup.console.web import needs, page, runtime_of, see_other
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.staff import ApiToken, AuditEntry, Role, RolePolicy, StaffMember
from followup.staff.accounts import SetPasswordLinks, require_second_factor
from followup.staff.members import add_staff, issue_token, revoke_token

router = APIRouter(prefix="/console", include_in_schema=False)
Admin = Annotated[SignedIn, Depends(needs(Role.ADMIN))]
AUDIT_PAGE = 200


@router.get("/staff", response_class=HTMLResponse)
def staff(request: Request, who: Admin) -> HTMLResponse:
    return _staff_page(request, who)


def _staff_page(
    request: Request, who: SignedIn, *, link: str = "", token: str = ""
) -> HTMLResponse:
    """The staff page; a new set-password link or API token is shown once, here (never
    in an address, where history and logs would keep it)."""
    with runtime_of(request).sessions() as session:
        members = list(session.scalars(select(StaffMember).order_by(StaffMember.name)))
        tokens = list(
            session.execute(
                select(ApiToken.id, StaffMember.name, ApiToken.created_at)
                .join(StaffMember, ApiToken.staff_id == StaffMember.id)
                .where(ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.id)
            )
        )
        policies = {p.role: p.totp_required for p in session.scalars(select(RolePolicy))}
    return page(
        request,
        "staff.html",
        who,
        members=members,
        tokens=tokens,
        roles=list(Role),
        policies=policies,
        link=link,
        token=token,
    )


@router.post("/staff", response_class=HTMLResponse)
def add(
    request: Request, who: Admin, name: str = Form(..., max_length=100), role: str = Form(...)
) -> HTMLResponse:
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        member = add_staff(session, name=name, role=role)
        _audit(session, who, "staff-add", f"{member.name} as {role}")
        link = SetPasswordLinks(runtime.settings).url(member)
    return _staff_page(request, who, link=link)


@router.post("/staff/{staff_id}/{action}", response_class=HTMLResponse)
def change(staff_id: int, action: str, request: Request, who: Admin) -> HTMLResponse:
    runtime = runtime_of(request)
    now = utcnow()
    link = token = ""
    with transaction(runtime.sessions) as session:
        member = session.get_one(StaffMember, staff_id)
        if action == "disable" and member.id != who.staff_id:
            member.disabled_at = now
            end_sessions(session, now=now, staff_id=member.id)
        elif action == "enable":
            member.disabled_at = None
        elif action == "password":
            # The link works once; the old password keeps working until it is used.
            link = SetPasswordLinks(runtime.settings).url(member)
        elif action == "second-factor":
            member.totp_secret = None
            end_sessions(session, now=now, staff_id=member.id)
        elif action == "token":
            _, token = issue_token(session, member)
        else:
            return see_other("/console/staff")
        _audit(session, who, f"staff-{action}", member.name)
    return _staff_page(request, who, link=link, token=token)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke(token_id: int, request: Request, who: Admin) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        revoke_token(session, token_id)
        _audit(session, who, "token-revoke", f"token #{token_id}")
    return see_other("/console/staff")


@router.post("/policies", response_class=HTMLResponse)
async def policies(request: Request, who: Admin) -> HTMLResponse:
    form = await request.form()
    required = set(form.getlist("totp"))
    with transaction(runtime_of(request).sessions) as session:
        for role in Role:
            require_second_factor(session, role, role.value in required)
        _audit(
            session,
            who,
            "second-factor-policy",
            ", ".join(sorted(str(r) for r in required)) or "none",
        )
    return see_other("/console/staff")


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, who: Admin, actor: str = "") -> HTMLResponse:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    with runtime_of(request).sessions() as session:
        entries = list(session.scalars(query))
    return page(request, "audit.html", who, entries=entries, actor=actor)


def _audit(session: Session, who: SignedIn, action: str, detail: str) -> None:
    session.add(AuditEntry(at=utcnow(), actor=who.name, action=action, detail=detail))
