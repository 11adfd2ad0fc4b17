"""The staff API under /api/: campaigns, and read access to patients and replies.

Staff authenticate with a bearer token (`followup staff token NAME`). No token or a
wrong one: 401. A staff member asking for an admin operation: 403. A body that does
not validate (control characters included): 422 with the field errors. Every read
of patient data is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import (
    cancel,
    create_campaign,
    get_campaign,
    launch_progress,
    pause,
    preview,
    progress,
    resume,
    test_send,
)
from followup.campaigns.segments import MAX_DAYS, Segment
from followup.content.encoding import sms_shape
from followup.db import transaction
from followup.exceptions import DeliveryError, InvalidInput, NotFound
from followup.models.base import utcnow
from followup.models.campaigns import Campaign
from followup.models.care import Patient, Visit
from followup.models.replies import Reply
from followup.models.staff import AuditEntry, Role, StaffMember
from followup.plain_text import CONTROL_CHARACTERS
from followup.runtime import Runtime
from followup.staff.members import add_staff, authenticate, get_staff, issue_token, revoke_token
from followup.tasks import write_in_background

router = APIRouter(prefix="/api", tags=["staff"])
bearer = HTTPBearer(auto_error=False)


def _without_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("contains a control character")
    return value


# Text from staff: anything but NUL and the other control characters (followup.plain_text).
Text = Annotated[str, AfterValidator(_without_control_characters)]


class SegmentIn(BaseModel):
    offices: list[Text] = []
    visited_from: date | None = None
    visited_to: date | None = None
    not_seen_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    tags: list[Text] = []
    languages: list[Text] = []
    min_pain: int | None = Field(default=None, ge=0, le=10)
    replied_since: date | None = None
    not_replied_since: date | None = None


class CampaignIn(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    channel: Literal["sms", "email", "preferred"]
    segment: SegmentIn = Field(default_factory=SegmentIn)
    template: Text | None = Field(default=None, max_length=100)
    # Line breaks are text here; the other control characters are refused.
    sms_text: Text | None = Field(default=None, max_length=1000)
    email_subject: Text | None = Field(default=None, max_length=200)
    email_text: Text | None = Field(default=None, max_length=20000)
    start_at: datetime | None = None
    rate: float = Field(default=1.0, gt=0)


class LaunchOut(BaseModel):
    state: Literal["none", "queued", "writing", "done"]
    done: int  # reachable patients whose messages are written
    total: int | None  # reachable patients, once writing started


class CampaignOut(BaseModel):
    name: str
    channel: str
    status: str
    segment: str
    rate: float
    start_at: datetime
    created_by: str
    launch: LaunchOut
    progress: dict[str, int]


class PreviewOut(BaseModel):
    recipients: dict[str, int]
    excluded: dict[str, int]
    samples: list[dict[str, str]]
    duration_seconds: float


class TestSendIn(BaseModel):
    to: Text = Field(min_length=3, max_length=320)


class StaffIn(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    role: Literal["staff", "clinician", "admin"]


class TokenOut(BaseModel):
    id: int
    token: str


class PatientOut(BaseModel):
    ref: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    language: str
    timezone: str


class VisitOut(BaseModel):
    ref: str
    office: str
    clinician: str
    visited_at: datetime
    tags: str
    plan: str
    cancelled_at: datetime | None


class ReplyOut(BaseModel):
    id: int
    received_at: datetime
    channel: str
    from_address: str
    patient_ref: str | None
    body: str
    pain: int | None
    triage: str | None
    keyword: str | None


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


def _admin(member: Annotated[StaffMember, Depends(_staff)]) -> StaffMember:
    if member.role != Role.ADMIN:
        raise HTTPException(403, "this needs the admin role")
    return member


DB = Annotated[Session, Depends(_session)]
Staff = Annotated[StaffMember, Depends(_staff)]
Admin = Annotated[StaffMember, Depends(_admin)]
RT = Annotated[Runtime, Depends(_runtime)]


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(db: DB, _: Staff) -> list[CampaignOut]:
    return [_out(db, c) for c in db.scalars(select(Campaign).order_by(Campaign.created_at.desc()))]


@router.post("/campaigns", status_code=201, response_model=CampaignOut)
def create(body: CampaignIn, db: DB, member: Staff, rt: RT) -> CampaignOut:
    created = create_campaign(
        db,
        settings=rt.settings,
        renderer=rt.renderer,
        name=body.name,
        channel=body.channel,
        segment=Segment.parse(**body.segment.model_dump()),
        by=member.name,
        template=body.template,
        sms_text=body.sms_text,
        email_subject=body.email_subject,
        email_text=body.email_text,
        start_at=body.start_at,
        rate=body.rate,
    )
    return _out(db, created)


@router.get("/campaigns/{name}", response_model=CampaignOut)
def show(name: str, db: DB, _: Staff) -> CampaignOut:
    return _out(db, get_campaign(db, name))


@router.post("/campaigns/{name}/preview", response_model=PreviewOut)
def preview_campaign(name: str, db: DB, _: Staff, rt: RT) -> PreviewOut:
    shown = preview(db, get_campaign(db, name), settings=rt.settings, renderer=rt.renderer)
    return PreviewOut(
        recipients=dict(shown.recipients),
        excluded=dict(shown.excluded),
        samples=[_sample(n, c, t) for n, c, t in shown.samples],
        duration_seconds=shown.duration.total_seconds(),
    )


@router.post("/campaigns/{name}/test-send")
def send_test(name: str, body: TestSendIn, db: DB, member: Staff, rt: RT) -> dict[str, str]:
    try:
        provider_id = test_send(
            db,
            get_campaign(db, name),
            settings=rt.settings,
            renderer=rt.renderer,
            channels=rt.channels,
            to=body.to,
            by=member.name,
        )
    except DeliveryError as exc:
        raise HTTPException(502, f"the test message was not sent: {exc.reason}") from None
    return {"sent_to": body.to, "provider_id": provider_id}


def _action(
    run: Callable[[Session, Campaign, StaffMember, Runtime], Any],
) -> Callable[..., CampaignOut]:
    def endpoint(name: str, db: DB, member: Staff, rt: RT) -> CampaignOut:
        chosen = get_campaign(db, name)
        run(db, chosen, member, rt)
        return _out(db, chosen)

    return endpoint


@router.post("/campaigns/{name}/launch", status_code=202, response_model=CampaignOut)
def launch_campaign(
    name: str, db: DB, member: Staff, rt: RT, response: Response, background: BackgroundTasks
) -> CampaignOut:
    """Launch: the messages are written in the background; the campaign's URL (in
    `Location`) shows `launch.done` of `launch.total` until `launch.state` is done."""
    with transaction(rt.sessions) as session:
        # Committed before the writing starts, which may be in another process.
        chosen = get_campaign(session, name)
        request_launch(session, chosen, by=member.name)
    background.add_task(write_in_background, rt, chosen.id, member.name)
    response.headers["Location"] = f"/api/campaigns/{name}"
    return _out(db, get_campaign(db, name))


for verb, run in {
    "pause": lambda db, c, m, rt: pause(db, c, by=m.name),
    "resume": lambda db, c, m, rt: resume(db, c, by=m.name),
    "cancel": lambda db, c, m, rt: cancel(db, c, by=m.name),
}.items():
    router.add_api_route(
        f"/campaigns/{{name}}/{verb}",
        _action(run),
        methods=["POST"],
        response_model=CampaignOut,
        name=f"{verb}_campaign",
        summary=f"{verb.capitalize()} a campaign",
    )


@router.get("/patients/{ref}", response_model=PatientOut)
def patient(ref: str, db: DB, member: Staff, rt: RT) -> Patient:
    found = _patient(db, ref)
    _audit_read(rt, member, "read-patient", f"patient {ref}")
    return found


@router.get("/patients/{ref}/visits", response_model=list[VisitOut])
def visits(ref: str, db: DB, member: Staff, rt: RT) -> list[Visit]:
    found = _patient(db, ref)
    _audit_read(rt, member, "read-visits", f"patient {ref}")
    return list(
        db.scalars(select(Visit).where(Visit.patient_id == found.id).order_by(Visit.visited_at))
    )


@router.get("/replies", response_model=list[ReplyOut])
def replies(
    db: DB, member: Staff, rt: RT, since: datetime | None = None, limit: int = 100
) -> list[ReplyOut]:
    query = (
        select(Reply, Patient.ref)
        .outerjoin(Patient, Reply.patient_id == Patient.id)
        .order_by(Reply.received_at.desc())
        .limit(min(max(limit, 1), 1000))
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
            body=r.body,
            pain=r.pain,
            triage=r.triage,
            keyword=r.keyword,
        )
        for r, ref in db.execute(query).all()
    ]
    shown = ", ".join(str(reply.id) for reply in found) or "none"
    _audit_read(rt, member, "read-replies", f"replies {shown}")
    return found


def _patient(db: Session, ref: str) -> Patient:
    found = db.scalar(select(Patient).where(Patient.ref == ref))
    if found is None:
        raise HTTPException(404, f"no patient with ref {ref!r}")
    return found


def _audit_read(runtime: Runtime, member: StaffMember, action: str, detail: str) -> None:
    """Who read which patient data through the API, and when: committed on its own,
    before the data leaves."""
    with transaction(runtime.sessions) as session:
        session.add(AuditEntry(at=utcnow(), actor=member.name, action=action, detail=detail))


@router.post("/staff", status_code=201)
def new_staff(body: StaffIn, db: DB, _: Admin) -> dict[str, str]:
    member = add_staff(db, name=body.name, role=body.role)
    return {"name": member.name, "role": member.role}


@router.post("/staff/{name}/tokens", status_code=201, response_model=TokenOut)
def new_token(name: str, db: DB, _: Admin) -> TokenOut:
    token_id, token = issue_token(db, get_staff(db, name))
    return TokenOut(id=token_id, token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(token_id: int, db: DB, _: Admin) -> None:
    revoke_token(db, token_id)


def _sample(first_name: str, channel: str, text: str) -> dict[str, str]:
    sample = {"first_name": first_name, "channel": channel, "text": text}
    if channel == "sms":
        shape = sms_shape(text)
        sample |= {"encoding": shape.encoding, "segments": str(shape.segments)}
    return sample


def _out(db: Session, campaign: Campaign) -> CampaignOut:
    return CampaignOut(
        name=campaign.name,
        channel=campaign.channel,
        status=campaign.status,
        segment=Segment.from_json(campaign.segment).describe(),
        rate=campaign.rate,
        start_at=campaign.start_at,
        created_by=campaign.created_by,
        launch=LaunchOut(**asdict(launch_progress(campaign))),
        progress=progress(db, campaign),
    )
