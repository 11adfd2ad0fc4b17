"""The staff API under /api/: read access to patients and replies, staff and tokens;
campaigns are `followup.web.campaigns_api`.

Staff authenticate with a bearer token (`followup staff token NAME`). No token, a
wrong or revoked one, or one of a disabled member: 401, checked on every request.
What a token may do is its member's role's abilities (`followup.staff.access`, the
console's policy too): otherwise 403. An id out of range or a body that does not
validate (control characters included): 422 with the field errors. Every read of
patient data, every token made or revoked, is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.console.web import client_address
from followup.db import transaction
from followup.exceptions import InvalidInput, NotFound
from followup.models.base import LARGEST_ID
from followup.models.care import Patient, Visit
from followup.models.replies import Reply
from followup.models.staff import StaffMember
from followup.runtime import Runtime
from followup.staff import audit
from followup.staff.access import Ability, may, reads_reply_text
from followup.staff.members import (
    add_staff,
    authenticate,
    get_staff,
    issue_token,
    revoke_token,
)
from followup.web.api_models import (
    PatientOut,
    ReplyOut,
    StaffIn,
    TokenOut,
    VisitOut,
)

router = APIRouter(prefix="/api", tags=["staff"])
bearer = HTTPBearer(auto_error=False)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _session(runtime: Annotated[Runtime, Depends(_runtime)]) -> Iterator[Session]:
    try:
        with transaction(runtime.sessions) as session:
            yield session
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _staff(
    session: Annotated[Session, Depends(_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> StaffMember:
    member = authenticate(session, credentials.credentials) if credentials else None
    if member is None:
        raise HTTPException(401, "a valid staff token is needed", {"WWW-Authenticate": "Bearer"})
    return member


class Allowed:
    """A dependency: the token's staff member, if the access policy gives their role
    `ability`."""

    def __init__(self, ability: Ability) -> None:
        self.ability = ability

    def __call__(self, member: Annotated[StaffMember, Depends(_staff)]) -> StaffMember:
        if not may(member.role, self.ability):
            raise HTTPException(403, f"your role may not {self.ability}")
        return member


DB = Annotated[Session, Depends(_session)]
Campaigner = Annotated[StaffMember, Depends(Allowed(Ability.RUN_CAMPAIGNS))]
SeesPatients = Annotated[StaffMember, Depends(Allowed(Ability.SEE_PATIENTS))]
WorksInbox = Annotated[StaffMember, Depends(Allowed(Ability.WORK_INBOX))]
Admin = Annotated[StaffMember, Depends(Allowed(Ability.MANAGE_STAFF))]
RT = Annotated[Runtime, Depends(_runtime)]
TokenId = Annotated[int, Path(ge=1, le=LARGEST_ID)]


@router.get("/patients/{ref}", response_model=PatientOut)
def patient(ref: str, db: DB, member: SeesPatients, rt: RT, request: Request) -> Patient:
    found = _patient(db, ref)
    _audit_read(rt, request, member, "read-patient", f"patient {ref}", found.id)
    return found


@router.get("/patients/{ref}/visits", response_model=list[VisitOut])
def visits(ref: str, db: DB, member: SeesPatients, rt: RT, request: Request) -> list[Visit]:
    found = _patient(db, ref)
    _audit_read(rt, request, member, "read-visits", f"patient {ref}", found.id)
    return list(
        db.scalars(select(Visit).where(Visit.patient_id == found.id).order_by(Visit.visited_at))
    )


@router.get("/replies", response_model=list[ReplyOut])
def replies(
    db: DB,
    member: WorksInbox,
    rt: RT,
    request: Request,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReplyOut]:
    """Replies, newest first; the words of an emergency or attention reply and pain
    scores only for a role that reads them in the console."""
    pain = may(member.role, Ability.READ_PAIN)
    query = (
        select(Reply, Patient.ref)
        .outerjoin(Patient, Reply.patient_id == Patient.id)
        .order_by(Reply.received_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Reply.received_at >= since)
    found = [
        ReplyOut(
            id=r.id,
            received_at=r.received_at,
            channel=r.channel,
            from_address=r.from_address,
            patient_ref=ref,
            body=r.body if reads_reply_text(member.role, r.triage) else None,
            pain=r.pain if pain else None,
            triage=r.triage,
            keyword=r.keyword,
        )
        for r, ref in db.execute(query).all()
    ]
    shown = ", ".join(str(reply.id) for reply in found) or "none"
    _audit_read(rt, request, member, "read-replies", f"replies {shown}")
    return found


def _patient(db: Session, ref: str) -> Patient:
    found = db.scalar(select(Patient).where(Patient.ref == ref))
    if found is None:
        raise HTTPException(404, f"no patient with ref {ref!r}")
    return found


def _audit_read(
    runtime: Runtime,
    request: Request,
    member: StaffMember,
    action: str,
    detail: str,
    patient_id: int | None = None,
) -> None:
    """Who read which patient data through the API, and when: committed on its own,
    before the data leaves."""
    with transaction(runtime.sessions) as session:
        audit.record(
            session,
            actor=member.name,
            action=action,
            address=client_address(request),
            detail=detail,
            patient_id=patient_id,
        )


@router.post("/staff", status_code=201)
def new_staff(body: StaffIn, db: DB, admin: Admin, request: Request) -> dict[str, str]:
    member = add_staff(db, name=body.name, role=body.role)
    audit.record(
        db,
        actor=admin.name,
        action="staff-add",
        address=client_address(request),
        detail=f"{member.name} as {member.role}",
    )
    return {"name": member.name, "role": member.role}


@router.post("/staff/{name}/tokens", status_code=201, response_model=TokenOut)
def new_token(name: str, db: DB, admin: Admin, request: Request) -> TokenOut:
    member = get_staff(db, name)
    token_id, token = issue_token(db, member)
    audit.record(
        db,
        actor=admin.name,
        action="staff-token",
        address=client_address(request),
        detail=f"token #{token_id} for {member.name}",
    )
    return TokenOut(id=token_id, token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(token_id: TokenId, db: DB, admin: Admin, request: Request) -> None:
    revoke_token(db, token_id)
    audit.record(
        db,
        actor=admin.name,
        action="token-revoke",
        address=client_address(request),
        detail=f"token #{token_id}",
    )
