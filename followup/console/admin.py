"""Admin: staff accounts (add, disable, new password link, reset second factor, their
own phone and email, API tokens), which roles must give a second factor, and the audit
log, filtered by member, patient, action and date, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.console.confirm import Confirmation, confirm_page
from followup.console.paging import Cursor, Key, Paging
from followup.console.sessions import SignedIn, end_sessions
from followup.console.web import Needs, RowId, client_address, page, runtime_of, see_other
from followup.db import transaction
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.staff import ApiToken, AuditEntry, Role, RolePolicy, StaffMember
from followup.schedule import start_of_day
from followup.staff import audit
from followup.staff.access import Ability
from followup.staff.accounts import SetPasswordLinks, require_second_factor, reset_second_factor
from followup.staff.members import (
    add_staff,
    check_disable,
    disable,
    issue_token,
    revoke_token,
    set_contacts,
)

router = APIRouter(prefix="/console", include_in_schema=False)
Admin = Annotated[SignedIn, Depends(Needs(Ability.MANAGE_STAFF))]
Auditor = Annotated[SignedIn, Depends(Needs(Ability.READ_AUDIT))]
# No entry names patient #0: what a ref that matches nobody filters by.
NO_PATIENT = 0
AUDIT = Paging("audit", [Key(AuditEntry.id, int, descending=True)])
MEMBERS = Paging("staff", [Key(StaffMember.name, str), Key(StaffMember.id, int)])
StaffAction = Literal["disable", "enable", "password", "second-factor", "token"]


@router.get("/staff", response_class=HTMLResponse)
def staff(request: Request, who: Admin, cursor: Cursor = "") -> HTMLResponse:
    return _staff_page(request, who, cursor=cursor)


def _staff_page(
    request: Request,
    who: SignedIn,
    *,
    link: str = "",
    token: str = "",
    error: str = "",
    cursor: str = "",
) -> HTMLResponse:
    """The staff page (its members a page at a time); a new set-password link or API
    token is shown once, here (never in an address, where history and logs keep it)."""
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        found = MEMBERS.page(
            session, select(StaffMember), cursor=cursor, secret=runtime.settings.secret_key
        )
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
        status=400 if error else 200,
        found=found,
        members=[row[0] for row in found.rows],
        tokens=tokens,
        roles=list(Role),
        policies=policies,
        link=link,
        token=token,
        error=error,
    )


@router.post("/staff", response_class=HTMLResponse)
def add(
    request: Request,
    who: Admin,
    role: Annotated[Role, Form()],
    name: str = Form(..., max_length=100),
) -> HTMLResponse:
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        member = add_staff(session, name=name, role=role)
        _audit(request, session, who, "staff-add", f"{member.name} as {role}")
        link = SetPasswordLinks(runtime.settings).url(member)
    return _staff_page(request, who, link=link)


@router.post("/staff/{staff_id}/contacts", response_class=HTMLResponse)
def contacts(
    staff_id: RowId,
    request: Request,
    who: Admin,
    phone: str = Form("", max_length=30),
    email: str = Form("", max_length=320),
) -> HTMLResponse:
    """The member's own phone and email, where their test-sends go."""
    with transaction(runtime_of(request).sessions) as session:
        member = _member(session, staff_id)
        set_contacts(member, phone=phone, email=email)
        shown = ", ".join(k for k, v in (("phone", member.phone), ("email", member.email)) if v)
        _audit(request, session, who, "staff-contacts", f"{member.name}: {shown or 'none'}")
    return see_other("/console/staff")


@router.get("/staff/{staff_id}/disable", response_class=HTMLResponse)
def confirm_disable(staff_id: RowId, request: Request, who: Admin) -> HTMLResponse:
    """What disabling the member ends, and the button that does it (refused here
    already for oneself and the last active admin)."""
    with runtime_of(request).sessions() as session:
        member = _member(session, staff_id)
        ends = check_disable(session, member, by_id=who.staff_id)
    name = member.name
    consequences = [
        f"{name} is signed out of the console at once ({ends.sessions} open sessions end).",
        f"Their API tokens stop working ({ends.tokens} revoked).",
        f"{name} cannot sign in until an admin enables them again.",
    ]
    if ends.assigned:
        consequences.append(
            f"Replies assigned to {name} and not yet handled ({ends.assigned}) stay "
            "assigned to them: reassign them in the Inbox."
        )
    confirmation = Confirmation(
        title=f"Disable {name}?",
        consequences=consequences,
        action=f"/console/staff/{member.id}/disable",
        button=f"Disable {name}",
        back="/console/staff",
    )
    return confirm_page(request, who, confirmation)


@router.post("/staff/{staff_id}/{action}", response_class=HTMLResponse)
def change(staff_id: RowId, action: StaffAction, request: Request, who: Admin) -> HTMLResponse:
    runtime = runtime_of(request)
    now = utcnow()
    link = token = ""
    with transaction(runtime.sessions) as session:
        member = _member(session, staff_id)
        detail = member.name
        if action == "disable":
            disable(session, member, now=now, by_id=who.staff_id)
        elif action == "enable":
            member.disabled_at = None
        elif action == "password":
            # The link works once; the old password keeps working until it is used.
            link = SetPasswordLinks(runtime.settings).url(member)
        elif action == "second-factor":
            reset_second_factor(member)
            end_sessions(session, now=now, staff_id=member.id)
        else:
            token_id, token = issue_token(session, member)
            detail = f"token #{token_id} for {member.name}"
        _audit(request, session, who, f"staff-{action}", detail)
    return _staff_page(request, who, link=link, token=token)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke(token_id: RowId, request: Request, who: Admin) -> HTMLResponse:
    with transaction(runtime_of(request).sessions) as session:
        revoke_token(session, token_id)
        _audit(request, session, who, "token-revoke", f"token #{token_id}")
    return see_other("/console/staff")


@router.post("/policies", response_class=HTMLResponse)
async def policies(request: Request, who: Admin) -> HTMLResponse:
    form = await request.form()
    required = {str(v) for v in form.getlist("totp")} & {r.value for r in Role}
    with transaction(runtime_of(request).sessions) as session:
        for role in Role:
            require_second_factor(session, role, role.value in required)
        _audit(request, session, who, "second-factor-policy", ", ".join(sorted(required)) or "none")
    return see_other("/console/staff")


@dataclass(frozen=True)
class AuditAsked:
    """The audit log's filters as the page (and its export) was asked; dates are
    days in the clinic's time zone, both included."""

    actor: str
    patient: str
    action: str
    since: date | None
    until: date | None

    def shown(self) -> dict[str, str]:
        days = {
            k: d.isoformat() if d else "" for k, d in (("since", self.since), ("until", self.until))
        }
        return {"actor": self.actor, "patient": self.patient, "action": self.action} | days

    def query(self, session: Session, zone: ZoneInfo) -> audit.AuditQuery:
        """As a query of the log; a patient ref that matches nobody matches no entry."""
        patient_id = None
        if self.patient.strip():
            found = session.scalar(select(Patient.id).where(Patient.ref == self.patient.strip()))
            patient_id = NO_PATIENT if found is None else found
        return audit.AuditQuery(
            actor=self.actor.strip() or None,
            patient_id=patient_id,
            action=self.action or None,
            since=start_of_day(self.since, zone) if self.since else None,
            until=start_of_day(self.until + timedelta(days=1), zone) if self.until else None,
        )


def audit_filters(
    actor: str = Query("", max_length=100),
    patient: str = Query("", max_length=100),
    action: str = Query("", max_length=40),
    since: date | None = None,
    until: date | None = None,
) -> AuditAsked:
    """A dependency: the audit log's query parameters."""
    if since and until and since > until:
        raise InvalidInput(f"the From date ({since}) is after the To date ({until})")
    return AuditAsked(actor, patient, action, since, until)


AuditFilters = Annotated[AuditAsked, Depends(audit_filters)]


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, who: Auditor, asked: AuditFilters, cursor: Cursor = ""
) -> HTMLResponse:
    """The log, newest first, a page at a time."""
    runtime = runtime_of(request)
    zone = ZoneInfo(runtime.settings.clinic_timezone)
    with runtime.sessions() as session:
        query = asked.query(session, zone)
        found = AUDIT.page(
            session, audit.entries(query), cursor=cursor, secret=runtime.settings.secret_key
        )
        shown = [row[0] for row in found.rows]
        named = {e.patient_id for e in shown if e.patient_id}
        refs = {
            patient_id: ref
            for patient_id, ref in session.execute(
                select(Patient.id, Patient.ref).where(Patient.id.in_(named))
            )
        }
        actions = audit.actions(session)
    filters = asked.shown()
    return page(
        request,
        "audit.html",
        who,
        found=found,
        entries=shown,
        refs=refs,
        filters=filters,
        actions=actions,
        unknown_patient=query.patient_id == NO_PATIENT,
    )


def _member(session: Session, staff_id: int) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None:
        raise NotFound(f"no staff member #{staff_id}")
    return member


def _audit(request: Request, session: Session, who: SignedIn, action: str, detail: str) -> None:
    audit.record(
        session, actor=who.name, action=action, address=client_address(request), detail=detail
    )
