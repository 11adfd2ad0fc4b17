"""The console's request plumbing: who is signed in, what the access policy allows
them, CSRF on every form, and rendering pages from `templates/console/`.

A request without a session is sent to sign in (and back afterwards); a session
whose second factor is still due is sent to give it; an ability the member's role
lacks (`followup.staff.access`) gets 403. Every POST must carry the session's CSRF
token.
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from followup.console import display
from followup.console.counts import counts
from followup.console.sessions import SignedIn, find_session
from followup.db import transaction
from followup.models.base import LARGEST_ID, utcnow
from followup.runtime import Runtime
from followup.staff import audit
from followup.staff.access import Ability

COOKIE = "followup_session"
# An id in a console address: a row's, so 1 to the largest an INTEGER column holds.
RowId = Annotated[int, Path(ge=1, le=LARGEST_ID)]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_address(request: Request) -> str | None:
    """The client's address: the peer's, or behind a trusted proxy the one it names."""
    return request.client.host if request.client else None


def current(request: Request) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    runtime = runtime_of(request)
    idle = timedelta(minutes=runtime.settings.console_idle_minutes)
    with transaction(runtime.sessions) as session:
        return find_session(session, token, now=utcnow(), idle=idle)


class Needs:
    """A dependency: the signed-in staff member, if the access policy gives their role
    every ability named. POSTs must also carry the session's CSRF token."""

    def __init__(self, ability: Ability, *more: Ability) -> None:
        self.abilities = (ability, *more)

    async def __call__(self, request: Request) -> SignedIn:
        who = current(request)
        if who is None:
            back = quote(request.url.path)
            raise HTTPException(303, headers={"Location": f"/console/login?next={back}"})
        if not who.verified:
            raise HTTPException(303, headers={"Location": "/console/login/code"})
        for ability in self.abilities:
            if not who.can(ability):
                raise HTTPException(403, f"your role may not {ability}")
        if request.method == "POST":
            await check_csrf(request, who)
        return who


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
        ability=Ability,
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


def audit_view(
    request: Request, who: SignedIn, action: str, detail: str, *, patient_id: int | None = None
) -> None:
    """Who looked at which patient data, and when: committed before the page is sent."""
    with transaction(runtime_of(request).sessions) as session:
        audit.record(
            session,
            actor=who.name,
            action=action,
            address=client_address(request),
            detail=detail,
            patient_id=patient_id,
        )


def audit_change(
    request: Request, session: Session, actor: str, action: str, detail: str, patient_id: int
) -> None:
    """What a member changed for a patient, in the change's own transaction."""
    audit.record(
        session,
        actor=actor,
        action=action,
        address=client_address(request),
        detail=detail,
        patient_id=patient_id,
    )


def see_other(location: str) -> HTMLResponse:
    """After a POST: go and GET the page (so a reload does not post again)."""
    return HTMLResponse(status_code=303, headers={"Location": location})


# What a redirect target may hold: a path's and a query's characters, nothing that
# could end a header line, name another host or climb out of the console.
_CONSOLE_PATH = re.compile(r"/console/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
_QUERY = re.compile(r"[A-Za-z0-9._~%+=&-]*")
_ESCAPES = re.compile(r"[\x00-\x1f\x7f\\]|//|\.\.")


def console_path(raw: str, default: str = "/console/") -> str:
    """`raw` if it is a path inside the console, else `default` (what it says once
    percent-decoded counts too: no control character, backslash, `//` or `..`)."""
    decoded = unquote(raw)
    if _CONSOLE_PATH.fullmatch(raw) and not _ESCAPES.search(decoded):
        return raw
    return default


def with_query(path: str, query: str) -> str:
    """`path` with a page's own query string (filters), if that is only a query."""
    return path + (f"?{query}" if query and _QUERY.fullmatch(query) else "")
