"""The staff API under /api/: campaigns, and read access to patients and replies.

Staff authenticate with a bearer token (`followup staff token NAME`). No token, a
wrong or revoked one, or one of a disabled member: 401, checked on every request.
What a token may do is its member's role's abilities (`followup.staff.access`, the
console's policy too): otherwise 403. An id out of range or a body that does not
validate (control characters included): 422 with the field errors. Every read of
patient data, every token made or revoked, is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import (
    cancel,
    create_campaign,
    launch_progress,
    pause,
    progress,
    resume,
    test_send,
)
from followup.campaigns.names import get_campaign
from followup.campaigns.previews import Preview, Sample, preview
from followup.campaigns.segments import Segment
from followup.console.web import client_address
from followup.content.campaign_text import LanguageText, load_texts
from followup.content.encoding import sms_shape
from followup.db import transaction
from followup.exceptions import DeliveryError, InvalidInput, NotFound
from followup.models.base import LARGEST_ID, Channel, utcnow
from followup.models.campaigns import Campaign
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
    own_address,
    revoke_token,
)
from followup.tasks import write_in_background
from followup.web.api_models import (
    CampaignIn,
    CampaignOut,
    EstimateOut,
    LaunchOut,
    PatientOut,
    PreviewOut,
    ReplyOut,
    StaffIn,
    TestSendIn,
    TextIn,
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
# Since campaigns have slugs: {campaign} was {name}. A name without "/" still finds it.
CampaignRef = Annotated[
    str,
    Path(
        description="The campaign's id or slug (CampaignOut.id, .slug); its exact name is "
        "still taken, as before slugs, but a name holding '/' cannot be a path segment.",
        max_length=120,
    ),
]


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(db: DB, _: Campaigner) -> list[CampaignOut]:
    return [_out(db, c) for c in db.scalars(select(Campaign).order_by(Campaign.created_at.desc()))]


@router.post("/campaigns", status_code=201, response_model=CampaignOut)
def create(body: CampaignIn, db: DB, member: Campaigner, rt: RT) -> CampaignOut:
    created = create_campaign(
        db,
        settings=rt.settings,
        renderer=rt.renderer,
        name=body.name,
        channel=body.channel,
        segment=Segment.parse(**body.segment.model_dump()),
        by=member.name,
        template=body.template,
        texts={
            k: LanguageText(t.sms_text, t.email_subject, t.email_text)
            for k, t in body.texts.items()
        },
        missing_text=body.missing_text,
        sms_text=body.sms_text,
        email_subject=body.email_subject,
        email_text=body.email_text,
        start_at=body.start_at,
        rate=body.rate,
    )
    return _out(db, created)


@router.get("/campaigns/{campaign}", response_model=CampaignOut)
def show(campaign: CampaignRef, db: DB, _: Campaigner) -> CampaignOut:
    """`campaign` is the campaign's id or slug (or, as before slugs, its exact name)."""
    return _out(db, get_campaign(db, campaign))


@router.post("/campaigns/{campaign}/preview", response_model=PreviewOut)
def preview_campaign(campaign: CampaignRef, db: DB, _: Campaigner, rt: RT) -> PreviewOut:
    now = utcnow()
    shown = preview(
        db, get_campaign(db, campaign), settings=rt.settings, renderer=rt.renderer, now=now
    )
    return _preview_out(shown, ZoneInfo(rt.settings.clinic_timezone), now)


@router.post("/campaigns/{campaign}/test-send")
def send_test(
    campaign: CampaignRef, body: TestSendIn, db: DB, member: Campaigner, rt: RT
) -> dict[str, str]:
    """Send the campaign's message to the member's own phone or email (on their staff
    record, set by an admin), nowhere else."""
    to = own_address(member, Channel(body.channel))
    try:
        provider_id = test_send(
            db,
            get_campaign(db, campaign),
            settings=rt.settings,
            renderer=rt.renderer,
            channels=rt.channels,
            to=to,
            by=member.name,
            language=body.language,
        )
    except DeliveryError as exc:
        raise HTTPException(502, f"the test message was not sent: {exc.reason}") from None
    return {"sent_to": to, "provider_id": provider_id}


def _action(
    run: Callable[[Session, Campaign, StaffMember, Runtime], Any],
) -> Callable[..., CampaignOut]:
    def endpoint(campaign: CampaignRef, db: DB, member: Campaigner, rt: RT) -> CampaignOut:
        chosen = get_campaign(db, campaign)
        run(db, chosen, member, rt)
        return _out(db, chosen)

    return endpoint


@router.post("/campaigns/{campaign}/launch", status_code=202, response_model=CampaignOut)
def launch_campaign(
    campaign: CampaignRef,
    db: DB,
    member: Campaigner,
    rt: RT,
    response: Response,
    background: BackgroundTasks,
) -> CampaignOut:
    """Launch: the messages are written in the background; the campaign's URL (in
    `Location`) shows `launch.done` of `launch.total` until `launch.state` is done."""
    with transaction(rt.sessions) as session:
        # Committed before the writing starts, which may be in another process.
        chosen = get_campaign(session, campaign)
        request_launch(session, chosen, by=member.name)
        slug = chosen.slug
    background.add_task(write_in_background, rt, chosen.id, member.name)
    response.headers["Location"] = f"/api/campaigns/{slug}"
    return _out(db, get_campaign(db, slug))


for verb, run in {
    "pause": lambda db, c, m, rt: pause(db, c, by=m.name),
    "resume": lambda db, c, m, rt: resume(db, c, by=m.name),
    "cancel": lambda db, c, m, rt: cancel(db, c, by=m.name),
}.items():
    router.add_api_route(
        f"/campaigns/{{campaign}}/{verb}",
        _action(run),
        methods=["POST"],
        response_model=CampaignOut,
        name=f"{verb}_campaign",
        summary=f"{verb.capitalize()} a campaign",
    )


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


def _preview_out(shown: Preview, zone: ZoneInfo, now: datetime) -> PreviewOut:
    estimate = shown.estimate
    return PreviewOut(
        recipients=dict(shown.recipients),
        languages=dict(shown.languages),
        without_text=dict(shown.without_text),
        missing_text=shown.missing_text,
        fallback=shown.fallback,
        excluded=dict(shown.excluded),
        explanation=shown.explanation(),
        samples=[_sample(s) for s in shown.samples],
        estimate=None
        if estimate is None
        else EstimateOut(
            starts=estimate.starts,
            earliest_finish=estimate.earliest,
            latest_finish=estimate.latest,
            rate=estimate.rate,
            limit=estimate.limit,
            ahead=estimate.ahead,
            quiet_hours=estimate.quiet,
            capped=estimate.capped,
            lines=estimate.lines(zone, now),
        ),
        duration_seconds=max(0.0, (estimate.earliest - now).total_seconds()) if estimate else 0.0,
    )


def _sample(shown: Sample) -> dict[str, str]:
    sample = {
        "first_name": shown.name,
        "channel": shown.channel,
        "language": shown.language,
        "written_in": shown.written_in,
        "text": shown.body,
    }
    if shown.subject:
        sample["subject"] = shown.subject
    if shown.channel == "sms":
        shape = sms_shape(shown.body)
        sample |= {"encoding": shape.encoding, "segments": str(shape.segments)}
    return sample


def _out(db: Session, campaign: Campaign) -> CampaignOut:
    texts = load_texts(campaign.texts)
    return CampaignOut(
        id=campaign.id,
        slug=campaign.slug,
        name=campaign.name,
        texts={
            k: TextIn(sms_text=t.sms, email_subject=t.subject, email_text=t.email)
            for k, t in texts.items()
        },
        missing_text=campaign.missing_text,
        channel=campaign.channel,
        status=campaign.status,
        segment=Segment.from_json(campaign.segment).describe(),
        rate=campaign.rate,
        start_at=campaign.start_at,
        created_by=campaign.created_by,
        launch=LaunchOut(**asdict(launch_progress(campaign))),
        progress=progress(db, campaign),
    )
