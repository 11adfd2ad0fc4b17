"""The staff API for campaigns under /api/campaigns: create (a text per language),
list, show, preview (per language, with the estimate), test-send, launch, pause,
resume, cancel. A campaign is addressed by its id or slug."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, HTTPException, Path, Response
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
from followup.content.campaign_text import LanguageText, load_texts
from followup.content.encoding import sms_shape
from followup.db import transaction
from followup.exceptions import DeliveryError
from followup.models.base import Channel, utcnow
from followup.models.campaigns import Campaign
from followup.models.staff import StaffMember
from followup.runtime import Runtime
from followup.staff.members import own_address
from followup.tasks import write_in_background
from followup.web.api import DB, RT, Campaigner
from followup.web.api_models import (
    CampaignIn,
    CampaignOut,
    EstimateOut,
    LaunchOut,
    PreviewOut,
    TestSendIn,
    TextIn,
)

router = APIRouter(prefix="/api", tags=["staff"])
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
