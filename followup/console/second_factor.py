"""The second factor: the code page, and setting one up.

Set-up is reached only by a member who has no factor (never yet, or since an admin
reset it), in the session their password just started; the secret it shows is sealed
to that session. A code is good once. Giving the factor replaces the session with a
new one (a new id, a new CSRF token).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadData, URLSafeTimedSerializer

from followup.console.sessions import SignedIn, verify_session
from followup.console.sign_in import (
    Throttle,
    failed_attempt,
    posted_by,
    signed_in_response,
)
from followup.console.web import client_address, current, page, runtime_of, see_other
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.staff import StaffMember
from followup.staff import audit
from followup.staff.accounts import (
    accept_code,
    enrol_second_factor,
    matching_step,
    new_totp_secret,
    totp_uri,
)

router = APIRouter(prefix="/console", include_in_schema=False)


def _pending(request: Request) -> tuple[SignedIn, StaffMember] | None:
    """The session a password just started, of a member with no second factor yet:
    the only place one is set up."""
    who = current(request)
    if who is None or who.verified:
        return None
    with runtime_of(request).sessions() as session:
        member = session.get_one(StaffMember, who.staff_id)
        session.expunge(member)
    return None if member.totp_secret else (who, member)


def _elsewhere(request: Request) -> HTMLResponse:
    """Where a visitor who may not set up a second factor goes instead."""
    who = current(request)
    if who is None:
        return see_other("/console/login")
    return see_other("/console/" if who.verified else "/console/login/code")


@router.get("/login/code", response_class=HTMLResponse)
def code_form(request: Request) -> HTMLResponse:
    who = current(request)
    if who is None:
        return see_other("/console/login")
    if who.verified:
        return see_other("/console/")
    return page(request, "login-code.html", who)


@router.post("/login/code", response_class=HTMLResponse)
def code(
    request: Request, code: str = Form("", max_length=20), csrf: str = Form("")
) -> HTMLResponse:
    who = posted_by(request, csrf)
    if who is None:
        return see_other("/console/login")
    if who.verified:
        return see_other("/console/")
    throttle = Throttle(request).for_account(who.name)
    if wait := throttle.wait_minutes():
        error = f"Too many wrong codes. Try again in {wait} minute(s)."
        return page(request, "login-code.html", who, status=429, error=error)
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        member = session.get_one(StaffMember, who.staff_id)
        accepted = accept_code(session, member, code)
        if accepted:
            token = verify_session(session, who.session_id, now=utcnow())
            audit.record(session, actor=who.name, action="sign-in", address=client_address(request))
    if not accepted:
        failed_attempt(request, throttle, who.name, "second-factor-failed")
        return page(request, "login-code.html", who, status=401, error="That code is not right.")
    return signed_in_response(request, token, "/console/")


def _secrets(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime_of(request).settings.secret_key, salt="followup-totp")


@router.get("/login/setup", response_class=HTMLResponse)
def setup_form(request: Request) -> HTMLResponse:
    """First sign-in where the role needs a second factor: show a new secret to add."""
    pending = _pending(request)
    if pending is None:
        return _elsewhere(request)
    who, member = pending
    secret = new_totp_secret()
    return page(
        request,
        "login-setup.html",
        who,
        secret=secret,
        uri=totp_uri(secret, member, runtime_of(request).settings),
        # Sealed to this session: a secret shown to another browser is no use here.
        sealed=_secrets(request).dumps([who.session_id, secret]),
    )


@router.post("/login/setup", response_class=HTMLResponse)
def setup(
    request: Request,
    sealed: str = Form(""),
    code: str = Form("", max_length=20),
    csrf: str = Form(""),
) -> HTMLResponse:
    posted_by(request, csrf)
    pending = _pending(request)
    if pending is None:
        return _elsewhere(request)
    who, member = pending
    try:
        session_id, secret = _secrets(request).loads(sealed, max_age=900)
    except (BadData, ValueError, TypeError):
        return see_other("/console/login/setup")
    if session_id != who.session_id or not isinstance(secret, str):
        return see_other("/console/login/setup")
    runtime = runtime_of(request)
    if matching_step(secret, code) is None:
        return page(
            request,
            "login-setup.html",
            who,
            status=401,
            secret=secret,
            uri=totp_uri(secret, member, runtime.settings),
            sealed=sealed,
            error="That code is not right: check the app's clock and try the next code.",
        )
    with transaction(runtime.sessions) as session:
        enrolled = enrol_second_factor(session, member, secret, code)
        if enrolled:
            token = verify_session(session, who.session_id, now=utcnow())
            audit.record(
                session,
                actor=who.name,
                action="second-factor-set-up",
                address=client_address(request),
            )
    if not enrolled:  # another browser set one up meanwhile
        return _elsewhere(request)
    return signed_in_response(request, token, "/console/")
