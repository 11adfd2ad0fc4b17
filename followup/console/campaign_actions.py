"""Launch, pause, resume and cancel a campaign, each after a confirmation that says
what will happen to how many patients ("Send to 933 patients: 801 by text, 132 by
email; this cannot be undone": `followup.campaigns.consequences`, which the command
line's question says too).

The campaign page links to `GET /console/campaigns/{campaign}/{action}`, a page with the
consequence and a form; its POST (with the session's CSRF token and `confirmed=yes`)
acts. A POST without the confirmation goes to the confirmation page and changes
nothing, so no click acts on its own, with or without script.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse

from followup.campaigns.consequences import Action, consequence
from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import cancel, pause, resume
from followup.campaigns.names import get_campaign
from followup.console.confirm import Confirmation, confirm_page
from followup.console.sessions import SignedIn
from followup.console.web import Needs, runtime_of, see_other
from followup.db import transaction
from followup.models.base import utcnow
from followup.staff.access import Ability
from followup.tasks import write_in_background

router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[SignedIn, Depends(Needs(Ability.RUN_CAMPAIGNS))]
LABELS = {"launch": "Launch", "pause": "Pause", "resume": "Resume", "cancel": "Cancel campaign"}


@router.get("/campaigns/{campaign}/{action}", response_class=HTMLResponse)
def confirm(campaign: str, action: Action, request: Request, who: Staff) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        chosen = get_campaign(session, campaign)
        said = consequence(
            session,
            chosen,
            action,
            settings=runtime.settings,
            renderer=runtime.renderer,
            now=utcnow(),
        )
    label, address = LABELS[action], f"/console/campaigns/{chosen.slug}"
    return confirm_page(
        request,
        who,
        Confirmation(
            title=f"{label} “{chosen.name}”?",
            headline=said.headline,
            consequences=said.details,
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
