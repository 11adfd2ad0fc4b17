"""Signing in and out: name and password, then the second factor where one is set or
the role requires it, and one-time links to set a password.

A second factor is set up only by a member who has none (never yet, or since an admin
reset it), in the session their password just started, with a secret sealed to that
session; a code is good once. Giving it replaces the session with a new one. Failed
attempts are counted per account and per client address (in Redis when there is one);
past the limit the page says how long to wait. Even the sign-in form carries a CSRF
token, bound to a cookie of its own. Every sign-in, failure, lock-out, set-up and
sign-out is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from limits import parse
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.console.sessions import (
    SignedIn,
    end_sessions,
    find_session,
    start_session,
)
from followup.console.web import (
    COOKIE,
    client_address,
    console_path,
    current,
    page,
    runtime_of,
    see_other,
)
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.staff import StaffMember
from followup.staff import audit
from followup.staff.accounts import (
    SetPasswordLinks,
    password_matches,
    second_factor_required,
    set_password,
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
        client = client_address(request) or "unknown"
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

    def failed(self) -> bool:
        """Count a failure; True when it is the one that locks sign-in."""
        locked = False
        for limit, key in self.keys:
            locked |= not self.limiter.hit(limit, key) or not self.limiter.test(limit, key)
        return locked


def audit_event(request: Request, actor: str, action: str, detail: str = "") -> None:
    """A security event, committed on its own (a failure changes nothing else)."""
    with transaction(runtime_of(request).sessions) as session:
        audit.record(
            session, actor=actor, action=action, address=client_address(request), detail=detail
        )


def failed_attempt(request: Request, throttle: Throttle, actor: str, action: str) -> None:
    audit_event(request, actor, action)
    if throttle.failed():
        audit_event(request, actor, "sign-in-locked", "too many failures: sign-in waits")


def _form_token(request: Request, cookie: str) -> str:
    secret = runtime_of(request).settings.secret_key.encode()
    return hmac.new(secret, f"login:{cookie}".encode(), hashlib.sha256).hexdigest()


def _login_page(
    request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    cookie = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    token = _form_token(request, cookie)
    response = page(request, template, None, status=status, csrf=token, **context)
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=runtime_of(request).settings.environment == "production",
        path="/console",
    )
    return response


def _check_form_token(request: Request, sent: str) -> None:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent, _form_token(request, cookie)):
        raise HTTPException(403, "the form has expired; reload the page and try again")


def signed_in_response(request: Request, token: str, location: str) -> HTMLResponse:
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


def posted_by(request: Request, csrf: str) -> SignedIn | None:
    """The session a second-factor form comes from, its CSRF token checked (403 if
    wrong); None when there is no session any more."""
    who = current(request)
    if who is not None and not hmac.compare_digest(csrf, who.csrf_token):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    return who


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    next: str = Query("/console/", max_length=500),
    done: str = Query("", max_length=20),
) -> HTMLResponse:
    # Only a message the server chose: `done` is a key, never text to show.
    note = PASSWORD_SET if done == "password" else ""
    return _login_page(request, "login.html", next=console_path(next), note=note)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    name: str = Form("", max_length=100),
    password: str = Form("", max_length=200),
    csrf: str = Form(""),
    next: str = Form("/console/", max_length=500),
) -> HTMLResponse:
    _check_form_token(request, csrf)
    landing = console_path(next)
    throttle = Throttle(request).for_account(name)
    if wait := throttle.wait_minutes():
        message = f"Too many failed sign-ins. Try again in {wait} minute(s), or ask an admin."
        return _login_page(
            request, "login.html", status=429, error=message, next=landing, name=name.strip()
        )
    runtime = runtime_of(request)
    now = utcnow()
    with transaction(runtime.sessions) as session:
        member = session.scalar(select(StaffMember).where(StaffMember.name == name.strip()))
        matched = password_matches(member, password)  # as slow for a name that is no one's
        if member is not None and matched:
            needs_code = second_factor_required(session, member)
            _end_this_browsers_session(request, session)
            token = start_session(session, member, verified=not needs_code, now=now)
            enrolled = member.totp_secret is not None
            audit.record(
                session,
                actor=member.name,
                action="sign-in" if not needs_code else "sign-in-password",
                address=client_address(request),
                detail="" if not needs_code else "second factor still due",
            )
    if member is None or not matched:
        # A name that is no one's is recorded as such: a typed name may be a password.
        failed_attempt(
            request, throttle, member.name if member else "(unknown name)", "sign-in-failed"
        )
        return _login_page(
            request,
            "login.html",
            status=401,
            error="Wrong name or password.",
            next=landing,
            name=name.strip(),
        )
    if not needs_code:
        return signed_in_response(request, token, landing)
    return signed_in_response(
        request, token, "/console/login/code" if enrolled else "/console/login/setup"
    )


def _end_this_browsers_session(request: Request, session: Session) -> None:
    """Signing in again ends whatever session this browser had (a new id each time)."""
    token = request.cookies.get(COOKIE)
    idle = timedelta(minutes=runtime_of(request).settings.console_idle_minutes)
    found = find_session(session, token, now=utcnow(), idle=idle) if token else None
    if found is not None:
        end_sessions(session, now=utcnow(), session_id=found.session_id)


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, csrf: str = Form("")) -> HTMLResponse:
    """Sign out; a form from elsewhere (no or a wrong CSRF token) changes nothing."""
    who = posted_by(request, csrf)
    if who is not None:
        with transaction(runtime_of(request).sessions) as session:
            end_sessions(session, now=utcnow(), session_id=who.session_id)
            audit.record(
                session, actor=who.name, action="sign-out", address=client_address(request)
            )
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
