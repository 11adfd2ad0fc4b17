"""Launch, pause, resume and cancel a campaign, each after a confirmation that says
what will happen to how many patients ("Send to 933 patients: 801 by text, 132 by
email; this cannot be undone").

The campaign page links to `GET /console/campaigns/{campaign}/{action}`, a page with the
consequence and a form; its POST (with the session's CSRF token and `confirmed=yes`)
acts. A POST without the confirmation goes to the confirmation page and changes
nothing, so no click acts on its own, with or without script.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import cancel, pause, resume
from followup.campaigns.names import get_campaign
from followup.campaigns.previews import preview
from followup.console.confirm import Confirmation, confirm_page
from followup.console.sessions import SignedIn
from followup.console.web import Needs, runtime_of, see_other
from followup.content.campaign_text import language_name
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.campaigns import Campaign
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus
from followup.runtime import Runtime
from followup.staff.access import Ability
from followup.tasks import write_in_background

router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[SignedIn, Depends(Needs(Ability.RUN_CAMPAIGNS))]
Action = Literal["launch", "pause", "resume", "cancel"]
LABELS = {"launch": "Launch", "pause": "Pause", "resume": "Resume", "cancel": "Cancel campaign"}
CHANNEL_WORDS = {"sms": "by text", "email": "by email"}


@router.get("/campaigns/{campaign}/{action}", response_class=HTMLResponse)
def confirm(campaign: str, action: Action, request: Request, who: Staff) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        chosen = get_campaign(session, campaign)
        consequence, details = _consequence(session, runtime, chosen, action)
    label, address = LABELS[action], f"/console/campaigns/{chosen.slug}"
    return confirm_page(
        request,
        who,
        Confirmation(
            title=f"{label} “{chosen.name}”?",
            headline=consequence,
            consequences=details,
            action=f"{address}/{action}",
            button=f"Yes, {label.lower()}",
            back=address,
            fields={"confirmed": "yes"},
        ),
    )


@router.post("/campaigns/{campaign}/{action}", response_class=HTMLResponse)
def act(
    campaign: str,
    action: Action,
    request: Request,
    who: Staff,
    background: BackgroundTasks,
    confirmed: Annotated[str, Form()] = "",
) -> HTMLResponse:
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        chosen = get_campaign(session, campaign)
        slug = chosen.slug
        if confirmed != "yes":
            return see_other(f"/console/campaigns/{slug}/{action}")
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
    return see_other(f"/console/campaigns/{slug}")


def _consequence(
    session: Session, runtime: Runtime, campaign: Campaign, action: Action
) -> tuple[str, list[str]]:
    """The sentence the confirmation leads with, and the lines under it."""
    if action == "launch":
        shown = preview(session, campaign, settings=runtime.settings, renderer=runtime.renderer)
        channels = ", ".join(
            f"{n:,} {CHANNEL_WORDS[c]}" for c, n in sorted(shown.recipients.items(), reverse=True)
        )
        details = [
            f"{language_name(language)}: {n:,}" for language, n in sorted(shown.languages.items())
        ]
        details += [f"Left out: {n:,} {reason}" for reason, n in shown.excluded.most_common()]
        if shown.estimate is not None:
            details += shown.estimate.lines(ZoneInfo(runtime.settings.clinic_timezone), utcnow())
        if not shown.total:
            return shown.explanation() or "0 recipients", details
        return (
            f"Send to {shown.total:,} patients: {channels}; this cannot be undone.",
            details,
        )
    waiting = _count(session, campaign, PENDING_STATUSES)
    if action == "pause":
        return (
            f"Pause: {waiting:,} waiting messages stay unsent until you resume.",
            ["Messages already handed to the provider still go."],
        )
    if action == "resume":
        left = _count(session, campaign, (MessageStatus.SCHEDULED,))
        return (
            f"Resume: {left:,} messages will be sent, spread from now at "
            f"{campaign.rate:g} a second.",
            [],
        )
    return (
        f"Cancel: {waiting:,} unsent messages will never be sent; this cannot be undone.",
        ["A cancelled campaign cannot be launched again."],
    )


def _count(session: Session, campaign: Campaign, statuses: tuple[MessageStatus, ...]) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.campaign_id == campaign.id, Message.status.in_(statuses))
        )
        or 0
    )
