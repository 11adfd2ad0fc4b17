"""Signing in and out: name and password, then the second factor where one is set or
the role requires it (set up on first sign-in), and one-time links to set a password.

Failed attempts are counted per account and per client address (in Redis when there
is one); past the limit the page says how long to wait. Even the sign-in form carries
a CSRF token, bound to a cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadData, URLSafeTimedSerializer
from limits import parse
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select

from followup.console.sessions import SignedIn, end_sessions, start_session, verify_session
from followup.console.web import COOKIE, current, page, runtime_of, see_other
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.staff import StaffMember
from followup.staff.accounts import (
    SetPasswordLinks,
    code_matches,
    new_totp_secret,
    password_matches,
    second_factor_required,
    set_password,
    totp_uri,
)
from followup.web.rate_limits import counters

router = APIRouter(prefix="/console", include_in_schema=False)
LOGIN_COOKIE = "followup_login"
PER_ACCOUNT = parse("5/15 minutes")
PER_ADDRESS = parse("20/15 minutes")
PASSWORD_SET = "Your password is set. Sign in with it now."


class Throttle:
    """Failed sign-ins, counted per account and per address."""

    def __init__(self, request: Request) -> None:
        runtime = runtime_of(request)
        limiter = getattr(request.app.state, "sign_in_limiter", None)
        if limiter is None:
            limiter = FixedWindowRateLimiter(counters(runtime.settings))
            request.app.state.sign_in_limiter = limiter
        self.limiter: FixedWindowRateLimiter = limiter
        client = request.client.host if request.client else "unknown"
        self.keys = [(PER_ADDRESS, f"sign-in:address:{client}")]

    def for_account(self, name: str) -> Throttle:
        account = hashlib.sha256(name.strip().lower().encode()).hexdigest()[:32]
        self.keys.append((PER_ACCOUNT, f"sign-in:account:{account}"))
        return self

    def wait_minutes(self) -> int:
        """0 when another attempt may be made; else minutes until one may."""
        for limit, key in self.keys:
            if not self.limiter.test(limit, key):
                reset = self.limiter.get_window_stats(limit, key).reset_time
                return max(1, math.ceil((reset - time.time()) / 60))
        return 0

    def failed(self) -> None:
        for limit, key in self.keys:
            self.limiter.hit(limit, key)


def _form_token(request: Request, cookie: str) -> str:
    secret = runtime_of(request).settings.secret_key.encode()
    return hmac.new(secret, f"login:{cookie}".encode(), hashlib.sha256).hexdigest()


def _login_page(
    request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    cookie = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    token = _form_token(request, cookie)
    response = page(request, template, None, status=status, csrf=token, **context)
    response.set_cookie(LOGIN_COOKIE, cookie, httponly=True, samesite="strict", path="/console")
    return response


def _check_form_token(request: Request, sent: str) -> None:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent, _form_token(request, cookie)):
        raise HTTPException(403, "the form has expired; reload the page and try again")


def _signed_in_response(request: Request, token: str, location: str) -> HTMLResponse:
    response = see_other(location)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",  # links in staff notifications must land signed in
        secure=runtime_of(request).settings.environment == "production",
        path="/console",
    )
    return response


def _posted_by(request: Request, csrf: str) -> SignedIn | None:
    """The session a second-factor form comes from, its CSRF token checked (403 if
    wrong); None when there is no session any more."""
    who = current(request)
    if who is not None and not hmac.compare_digest(csrf, who.csrf_token):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    return who


def _next(raw: str) -> str:
    """Only somewhere in the console: never an open redirect."""
    return raw if raw.startswith("/console/") and not raw.startswith("//") else "/console/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console/", done: str = "") -> HTMLResponse:
    # Only a message the server chose: `done` is a key, never text to show.
    note = PASSWORD_SET if done == "password" else ""
    return _login_page(request, "login.html", next=_next(next), note=note)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    name: str = Form("", max_length=100),
    password: str = Form("", max_length=200),
    csrf: str = Form(""),
    next: str = Form("/console/"),
) -> HTMLResponse:
    _check_form_token(request, csrf)
    throttle = Throttle(request).for_account(name)
    if wait := throttle.wait_minutes():
        message = f"Too many failed sign-ins. Try again in {wait} minute(s), or ask an admin."
        return _login_page(
            request, "login.html", status=429, error=message, next=_next(next), name=name.strip()
        )
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        member = session.scalar(select(StaffMember).where(StaffMember.name == name.strip()))
        matched = password_matches(member, password)  # as slow for a name that is no one's
        if member is None or not matched:
            throttle.failed()
            return _login_page(
                request,
                "login.html",
                status=401,
                error="Wrong name or password.",
                next=_next(next),
                name=name.strip(),
            )
        needs_code = second_factor_required(session, member)
        token = start_session(session, member, verified=not needs_code, now=utcnow())
        enrolled = member.totp_secret is not None
    if not needs_code:
        return _signed_in_response(request, token, _next(next))
    return _signed_in_response(
        request, token, "/console/login/code" if enrolled else "/console/login/setup"
    )


@router.get("/login/code", response_class=HTMLResponse)
def code_form(request: Request) -> HTMLResponse:
    who = current(request)
    if who is None:
        return see_other("/console/login")
    return page(request, "login-code.html", who)


@router.post("/login/code", response_class=HTMLResponse)
def code(
    request: Request, code: str = Form("", max_length=20), csrf: str = Form("")
) -> HTMLResponse:
    who = _posted_by(request, csrf)
    if who is None:
        return see_other("/console/login")
    throttle = Throttle(request).for_account(who.name)
    if wait := throttle.wait_minutes():
        error = f"Too many wrong codes. Try again in {wait} minute(s)."
        return page(request, "login-code.html", who, status=429, error=error)
    runtime = runtime_of(request)
    with transaction(runtime.sessions) as session:
        member = session.get_one(StaffMember, who.staff_id)
        if not member.totp_secret or not code_matches(member.totp_secret, code):
            throttle.failed()
            return page(
                request, "login-code.html", who, status=401, error="That code is not right."
            )
        verify_session(session, who.session_id)
    return see_other("/console/")


def _secrets(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime_of(request).settings.secret_key, salt="followup-totp")


@router.get("/login/setup", response_class=HTMLResponse)
def setup_form(request: Request) -> HTMLResponse:
    """First sign-in where the role needs a second factor: show a new secret to add."""
    who = current(request)
    if who is None:
        return see_other("/console/login")
    secret = new_totp_secret()
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        member = session.get_one(StaffMember, who.staff_id)
        uri = totp_uri(secret, member, runtime.settings)
    return page(
        request,
        "login-setup.html",
        who,
        secret=secret,
        uri=uri,
        sealed=_secrets(request).dumps(secret),
    )


@router.post("/login/setup", response_class=HTMLResponse)
def setup(
    request: Request,
    sealed: str = Form(""),
    code: str = Form("", max_length=20),
    csrf: str = Form(""),
) -> HTMLResponse:
    who = _posted_by(request, csrf)
    if who is None:
        return see_other("/console/login")
    try:
        secret = str(_secrets(request).loads(sealed, max_age=900))
    except BadData:
        return see_other("/console/login/setup")
    if not code_matches(secret, code):
        runtime = runtime_of(request)
        with runtime.sessions() as session:
            uri = totp_uri(secret, session.get_one(StaffMember, who.staff_id), runtime.settings)
        return page(
            request,
            "login-setup.html",
            who,
            status=401,
            secret=secret,
            uri=uri,
            sealed=sealed,
            error="That code is not right: check the app's clock and try the next code.",
        )
    with transaction(runtime_of(request).sessions) as session:
        session.get_one(StaffMember, who.staff_id).totp_secret = secret
        verify_session(session, who.session_id)
    return see_other("/console/")


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, csrf: str = Form("")) -> HTMLResponse:
    who = current(request)
    if who is not None and hmac.compare_digest(csrf, who.csrf_token):
        with transaction(runtime_of(request).sessions) as session:
            end_sessions(session, now=utcnow(), session_id=who.session_id)
    response = see_other("/console/login")
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/set-password/{token}", response_class=HTMLResponse)
def set_password_form(token: str, request: Request) -> HTMLResponse:
    links = SetPasswordLinks(runtime_of(request).settings)
    with runtime_of(request).sessions() as session:
        try:
            member = links.member(session, token)
        except InvalidInput as exc:
            return _login_page(request, "set-password.html", status=400, error=str(exc))
        return _login_page(request, "set-password.html", name=member.name, token=token)


@router.post("/set-password/{token}", response_class=HTMLResponse)
def set_new_password(
    token: str,
    request: Request,
    password: str = Form("", max_length=200),
    again: str = Form("", max_length=200),
    csrf: str = Form(""),
) -> HTMLResponse:
    _check_form_token(request, csrf)
    links = SetPasswordLinks(runtime_of(request).settings)
    with transaction(runtime_of(request).sessions) as session:
        try:
            member = links.member(session, token)
            if password != again:
                raise InvalidInput("the two passwords differ")
            set_password(member, password)
        except InvalidInput as exc:
            return _login_page(
                request, "set-password.html", status=400, error=str(exc), token=token, name=""
            )
        end_sessions(session, now=utcnow(), staff_id=member.id)
    return see_other("/console/login?done=password")
