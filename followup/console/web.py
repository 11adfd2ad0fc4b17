"""The console's request plumbing: who is signed in, what their role allows, CSRF on
every form, and rendering pages from `templates/console/`.

A request without a session is sent to sign in (and back afterwards); a session
whose second factor is still due is sent to give it; a role that does not allow a
page gets 403. Every POST must carry the session's CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from followup.console import display
from followup.console.counts import counts
from followup.console.sessions import SignedIn, find_session
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.staff import AuditEntry, Role
from followup.runtime import Runtime

COOKIE = "followup_session"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def current(request: Request) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    runtime = runtime_of(request)
    idle = timedelta(minutes=runtime.settings.console_idle_minutes)
    with transaction(runtime.sessions) as session:
        return find_session(session, token, now=utcnow(), idle=idle)


def needs(role: Role) -> Callable[[Request], Awaitable[SignedIn]]:
    """A dependency: the signed-in staff member, if their role allows `role`'s pages.
    POSTs must also carry the session's CSRF token."""

    async def signed_in(request: Request) -> SignedIn:
        who = current(request)
        if who is None:
            back = quote(request.url.path)
            raise HTTPException(303, headers={"Location": f"/console/login?next={back}"})
        if not who.verified:
            raise HTTPException(303, headers={"Location": "/console/login/code"})
        if not who.role.may(role):
            raise HTTPException(403, f"this page needs the {role} role")
        if request.method == "POST":
            await check_csrf(request, who)
        return who

    return signed_in


async def check_csrf(request: Request, who: SignedIn) -> None:
    form = await request.form()
    sent = str(form.get("csrf", ""))
    if not hmac.compare_digest(sent.encode(), who.csrf_token.encode()):
        raise HTTPException(403, "the form has expired; reload the page and try again")


def page(
    request: Request, template: str, who: SignedIn | None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render `console/<template>`, with the formatting of `followup.console.display`
    and, for a signed-in member, the navigation's counts."""
    runtime = runtime_of(request)
    zone = ZoneInfo(runtime.settings.clinic_timezone)
    shown = None
    if who is not None and who.verified:
        with runtime.sessions() as session:
            shown = counts(session)
    html = runtime.renderer.environment.get_template(f"console/{template}").render(
        who=who,
        clinic={"name": runtime.settings.clinic_name},
        path=request.url.path,
        counts=shown,
        show=display.Display(zone, utcnow()),
        phone=display.phone,
        language=display.language,
        office=display.office,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def audit_view(request: Request, who: SignedIn, action: str, detail: str) -> None:
    """Who looked at which patient data, and when: committed before the page is sent."""
    with transaction(runtime_of(request).sessions) as session:
        session.add(AuditEntry(at=utcnow(), actor=who.name, action=action, detail=detail))


def see_other(location: str) -> HTMLResponse:
    """After a POST: go and GET the page (so a reload does not post again)."""
    return HTMLResponse(status_code=303, headers={"Location": location})
