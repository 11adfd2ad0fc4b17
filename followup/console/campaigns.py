"""Campaigns: build a segment and a message per language with a live preview
(recipients per channel and language, who is left out and why, samples rendered for
real recipients of each language with their SMS segments, when it would be sent),
save, test-send to one's own recorded phone or email, and watch progress by state and
why messages wait. Launch, pause, resume and cancel are in
`followup.console.campaign_actions`, behind a confirmation. Campaigns are addressed
by slug. Status lines are the server's own, kept in the session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from followup.campaigns.lifecycle import (
    create_campaign,
    draft,
    launch_progress,
    progress,
    test_send,
)
from followup.campaigns.names import get_campaign
from followup.campaigns.previews import Preview, preview
from followup.campaigns.segments import Segment
from followup.campaigns.waiting import why_waiting
from followup.care.patients import LANGUAGES
from followup.console.paging import Cursor, Key, Paging
from followup.console.sessions import SignedIn, set_flash
from followup.console.web import Needs, page, runtime_of, see_other
from followup.content.campaign_text import FALLBACK, LanguageText, language_name
from followup.content.encoding import sms_shape
from followup.db import transaction
from followup.exceptions import DeliveryError, FollowupError, InvalidInput
from followup.models.base import Channel, utcnow
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.care import Office
from followup.models.staff import StaffMember
from followup.staff.access import Ability
from followup.staff.members import own_address

router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[SignedIn, Depends(Needs(Ability.RUN_CAMPAIGNS))]
PARTS = ("sms_text", "email_subject", "email_text")
# English's fields keep their names (sms_text ...); another language's end in _<code>.
TEXT_FIELDS = tuple(
    part if language == "en" else f"{part}_{language}" for language in LANGUAGES for part in PARTS
)
CAMPAIGNS = Paging(
    "campaigns", [Key(Campaign.created_at, datetime, descending=True), Key(Campaign.id, int, True)]
)
FIELDS = (
    "name",
    "channel",
    *TEXT_FIELDS,
    "missing_text",
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
    blank = dict.fromkeys(FIELDS, "") | {"channel": "sms", "rate": "1", "missing_text": FALLBACK}
    return _builder(request, who, blank)


@router.post("/campaigns/preview", response_class=HTMLResponse)
async def live_preview(request: Request, who: Staff) -> HTMLResponse:
    """The preview alone, for the builder's script; the same as the Preview button."""
    form = await _form(request)
    return page(request, "campaign-preview.html", who, **_preview(request, form, who))


@router.post("/campaigns/new", response_class=HTMLResponse)
async def create(request: Request, who: Staff) -> HTMLResponse:
    form = await _form(request)
    if form.get("save") != "yes":
        return _builder(request, who, form, **_preview(request, form, who))
    runtime = runtime_of(request)
    try:
        with transaction(runtime.sessions) as session:
            created = create_campaign(
                session, settings=runtime.settings, renderer=runtime.renderer, **_values(form, who)
            )
            slug = created.slug
    except (FollowupError, ValueError) as exc:
        return _builder(request, who, form, status=400, error=str(exc))
    return see_other(f"/console/campaigns/{slug}")


@router.get("/campaigns/{campaign}", response_class=HTMLResponse)
def campaign_page(campaign: str, request: Request, who: Staff) -> HTMLResponse:
    runtime = runtime_of(request)
    now = utcnow()
    with runtime.sessions() as session:
        chosen = get_campaign(session, campaign)
        counts = progress(session, chosen)
        waits = why_waiting(session, chosen, settings=runtime.settings, now=now)
        draft = chosen.status == CampaignStatus.DRAFT  # after a launch, progress says the rest
        shown = preview(
            session,
            chosen,
            settings=runtime.settings,
            renderer=runtime.renderer,
            now=now,
            estimated=draft,
        )
    return page(
        request,
        "campaign.html",
        who,
        campaign=chosen,
        progress=counts,
        launch=launch_progress(chosen),
        waits=waits,
        languages=LANGUAGES,
        **_shown(shown, runtime.settings.clinic_timezone),
    )


@router.get("/campaigns/{campaign}/progress", response_class=HTMLResponse)
def campaign_progress(campaign: str, request: Request, who: Staff) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        chosen = get_campaign(session, campaign)
        counts = progress(session, chosen)
        launch = launch_progress(chosen)
        waits = why_waiting(session, chosen, settings=runtime.settings, now=utcnow())
    return page(
        request,
        "campaign-progress.html",
        who,
        campaign=chosen,
        progress=counts,
        launch=launch,
        waits=waits,
    )


@router.post("/campaigns/{campaign}/test-send", response_class=HTMLResponse)
def send_test(
    campaign: str,
    request: Request,
    who: Staff,
    channel: Annotated[Channel, Form()],
    language: Annotated[str, Form()] = "en",
) -> HTMLResponse:
    runtime = runtime_of(request)
    try:
        with transaction(runtime.sessions) as session:
            to = own_address(session.get_one(StaffMember, who.staff_id), channel)
            chosen = get_campaign(session, campaign)
            test_send(
                session,
                chosen,
                settings=runtime.settings,
                renderer=runtime.renderer,
                channels=runtime.channels,
                to=to,
                by=who.name,
                language=language if language in LANGUAGES else "en",
            )
        note = f"Test sent to your {'phone' if channel is Channel.SMS else 'email'}."
    except DeliveryError as exc:
        note = f"The test was not sent: {exc.reason}"
    except InvalidInput as exc:
        note = f"The test was not sent: {exc}"
    with transaction(runtime.sessions) as session:
        set_flash(session, who.session_id, note)
        slug = get_campaign(session, campaign).slug
    return see_other(f"/console/campaigns/{slug}")


def _builder(
    request: Request, who: SignedIn, form: dict[str, str], *, status: int = 200, **shown: Any
) -> HTMLResponse:
    return page(
        request,
        "campaign-new.html",
        who,
        status=status,
        form=form,
        offices=list(Office),
        languages=[(code, language_name(code)) for code in LANGUAGES],
        sms_limit=runtime_of(request).settings.sms_rate,
        **shown,
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in (*FIELDS, "save")}
    values["offices"] = ",".join(str(v) for v in form.getlist("offices"))
    return values


def _values(form: dict[str, str], who: SignedIn) -> dict[str, Any]:
    def listed(key: str) -> list[str]:
        return [part.strip() for part in form.get(key, "").split(",") if part.strip()]

    texts = {
        language: LanguageText(
            *(
                form.get(part if language == "en" else f"{part}_{language}") or None
                for part in PARTS
            )
        )
        for language in LANGUAGES
    }
    if not any(text.given() for text in texts.values()):
        # The command line's words (--template or a text) name no field on this form.
        raise InvalidInput("write a text in at least one language")
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
        "texts": texts,
        "missing_text": form.get("missing_text") or FALLBACK,
        "rate": _rate(form.get("rate") or "1"),
    }


def _rate(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(
            f"the send rate {value!r} is not a number of messages a second"
        ) from None


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
    return _shown(shown, runtime.settings.clinic_timezone)


def _shown(shown: Preview, zone: str) -> dict[str, Any]:
    """What the preview template shows of a preview (its estimate, if it has one)."""
    samples = [(s, sms_shape(s.body) if s.channel == "sms" else None) for s in shown.samples]
    lines = shown.estimate.lines(ZoneInfo(zone), utcnow()) if shown.estimate else []
    return {
        "preview": shown,
        "samples": samples,
        "estimate": lines,
        "language_name": language_name,
    }
