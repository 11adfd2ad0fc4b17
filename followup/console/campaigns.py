"""Campaigns: build a segment and a message with a live preview (recipients per
channel, who is left out and why, rendered samples with their SMS segments), save,
test-send to one's own recorded phone or email, launch, pause, resume or cancel, and
watch progress by state. Status lines are the server's own, kept in the session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import (
    cancel,
    create_campaign,
    draft,
    get_campaign,
    launch_progress,
    pause,
    preview,
    progress,
    resume,
    test_send,
)
from followup.campaigns.segments import Segment
from followup.console.paging import Cursor, Key, Paging
from followup.console.sessions import SignedIn, set_flash
from followup.console.web import Needs, page, runtime_of, see_other
from followup.content.encoding import sms_shape
from followup.db import transaction
from followup.exceptions import DeliveryError, FollowupError, InvalidInput
from followup.models.base import Channel
from followup.models.campaigns import Campaign
from followup.models.care import Office
from followup.models.staff import StaffMember
from followup.staff.access import Ability
from followup.staff.members import own_address
from followup.tasks import write_in_background

router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[SignedIn, Depends(Needs(Ability.RUN_CAMPAIGNS))]
CAMPAIGNS = Paging(
    "campaigns", [Key(Campaign.created_at, datetime, descending=True), Key(Campaign.id, int, True)]
)
Action = Literal["launch", "pause", "resume", "cancel"]
FIELDS = (
    "name",
    "channel",
    "sms_text",
    "email_subject",
    "email_text",
    "rate",
    "offices",
    "tags",
    "languages",
    "visited_from",
    "visited_to",
    "not_seen_days",
    "min_pain",
)


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, who: Staff, cursor: Cursor = "") -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        found = CAMPAIGNS.page(
            session, select(Campaign), cursor=cursor, secret=runtime.settings.secret_key
        )
        shown = [(row[0], progress(session, row[0])) for row in found.rows]
    return page(request, "campaigns.html", who, found=found, campaigns=shown)


@router.get("/campaigns/new", response_class=HTMLResponse)
def new(request: Request, who: Staff) -> HTMLResponse:
    blank = dict.fromkeys(FIELDS, "") | {"channel": "sms", "rate": "1"}
    return page(request, "campaign-new.html", who, form=blank, offices=list(Office))


@router.post("/campaigns/preview", response_class=HTMLResponse)
async def live_preview(request: Request, who: Staff) -> HTMLResponse:
    """The preview alone, for the builder's script; the same as the Preview button."""
    form = await _form(request)
    return page(request, "campaign-preview.html", who, **_preview(request, form, who))


@router.post("/campaigns/new", response_class=HTMLResponse)
async def create(request: Request, who: Staff) -> HTMLResponse:
    form = await _form(request)
    if form.get("save") != "yes":
        shown = _preview(request, form, who)
        return page(request, "campaign-new.html", who, form=form, offices=list(Office), **shown)
    runtime = runtime_of(request)
    try:
        with transaction(runtime.sessions) as session:
            create_campaign(
                session, settings=runtime.settings, renderer=runtime.renderer, **_values(form, who)
            )
    except (FollowupError, ValueError) as exc:
        return page(
            request,
            "campaign-new.html",
            who,
            status=400,
            form=form,
            offices=list(Office),
            error=str(exc),
        )
    return see_other(f"/console/campaigns/{quote(form['name'].strip())}")


@router.get("/campaigns/{name}", response_class=HTMLResponse)
def campaign_page(name: str, request: Request, who: Staff) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        chosen = get_campaign(session, name)
        counts = progress(session, chosen)
        shown = preview(session, chosen, settings=runtime.settings, renderer=runtime.renderer)
    samples = [(n, c, t, sms_shape(t) if c == "sms" else None) for n, c, t in shown.samples]
    return page(
        request,
        "campaign.html",
        who,
        campaign=chosen,
        progress=counts,
        launch=launch_progress(chosen),
        preview=shown,
        samples=samples,
    )


@router.get("/campaigns/{name}/progress", response_class=HTMLResponse)
def campaign_progress(name: str, request: Request, who: Staff) -> HTMLResponse:
    with runtime_of(request).sessions() as session:
        chosen = get_campaign(session, name)
        counts = progress(session, chosen)
        launch = launch_progress(chosen)
    return page(
        request, "campaign-progress.html", who, campaign=chosen, progress=counts, launch=launch
    )


@router.post("/campaigns/{name}/test-send", response_class=HTMLResponse)
def send_test(
    name: str, request: Request, who: Staff, channel: Annotated[Channel, Form()]
) -> HTMLResponse:
    runtime = runtime_of(request)
    try:
        with transaction(runtime.sessions) as session:
            to = own_address(session.get_one(StaffMember, who.staff_id), channel)
            test_send(
                session,
                get_campaign(session, name),
                settings=runtime.settings,
                renderer=runtime.renderer,
                channels=runtime.channels,
                to=to,
                by=who.name,
            )
        note = f"Test sent to your {'phone' if channel is Channel.SMS else 'email'}."
    except DeliveryError as exc:
        note = f"The test was not sent: {exc.reason}"
    except InvalidInput as exc:
        note = f"The test was not sent: {exc}"
    with transaction(runtime.sessions) as session:
        set_flash(session, who.session_id, note)
    return see_other(f"/console/campaigns/{quote(name)}")


@router.post("/campaigns/{name}/{action}", response_class=HTMLResponse)
def act(
    name: str, action: Action, request: Request, who: Staff, background: BackgroundTasks
) -> HTMLResponse:
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        chosen = get_campaign(session, name)
        if action == "launch":
            request_launch(session, chosen, by=who.name)
        elif action == "pause":
            pause(session, chosen, by=who.name)
        elif action == "resume":
            resume(session, chosen, by=who.name)
        else:
            cancel(session, chosen, by=who.name)
    if action == "launch":
        # Written by a worker, or with no broker by this process once the page is sent:
        # the page comes back at once and shows the writing's progress.
        background.add_task(write_in_background, runtime, chosen.id, who.name)
    return see_other(f"/console/campaigns/{quote(name)}")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in (*FIELDS, "save")}
    values["offices"] = ",".join(str(v) for v in form.getlist("offices"))
    return values


def _values(form: dict[str, str], who: SignedIn) -> dict[str, Any]:
    def listed(key: str) -> list[str]:
        return [part.strip() for part in form.get(key, "").split(",") if part.strip()]

    return {
        "name": form.get("name", ""),
        "channel": form.get("channel", "sms"),
        "segment": Segment.parse(
            offices=listed("offices"),
            tags=listed("tags"),
            languages=listed("languages"),
            visited_from=form.get("visited_from") or None,
            visited_to=form.get("visited_to") or None,
            not_seen_days=form.get("not_seen_days") or None,
            min_pain=form.get("min_pain") or None,
        ),
        "by": who.name,
        "sms_text": form.get("sms_text") or None,
        "email_subject": form.get("email_subject") or None,
        "email_text": form.get("email_text") or None,
        "rate": float(form.get("rate") or 1),
    }


def _preview(request: Request, form: dict[str, str], who: SignedIn) -> dict[str, Any]:
    """What the builder shows: the preview, or why there is none yet."""
    runtime = runtime_of(request)
    try:
        campaign = draft(
            settings=runtime.settings,
            renderer=runtime.renderer,
            **(_values(form, who) | {"name": form.get("name") or "preview"}),
        )
        with runtime.sessions() as session:
            shown = preview(session, campaign, settings=runtime.settings, renderer=runtime.renderer)
    except (FollowupError, ValueError) as exc:
        return {"error": str(exc)}
    samples = [(n, c, t, sms_shape(t) if c == "sms" else None) for n, c, t in shown.samples]
    return {"preview": shown, "samples": samples}
