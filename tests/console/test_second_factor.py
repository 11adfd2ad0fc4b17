"""The second factor cannot be bypassed, replaced or replayed, and every change of
privilege gets a new session id (issue 20, points 1, 3 and 4)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.db import transaction
from followup.models.staff import Role, StaffMember
from followup.runtime import Runtime
from followup.staff.accounts import require_second_factor
from followup.web.app import create_app
from tests.conftest import PUBLIC
from tests.console.test_console import form_token, make_staff, sign_in

SECRET = pyotp.random_base32()


@pytest.fixture
def web_client_pair(web_runtime: Runtime) -> Iterator[tuple[TestClient, TestClient]]:
    """Two browsers on one app."""
    app = create_app(web_runtime)
    with TestClient(app, base_url=PUBLIC) as first, TestClient(app, base_url=PUBLIC) as second:
        yield first, second


def sealed_secret(page: str) -> tuple[str, str]:
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    sealed = re.search(r'name="sealed" value="([^"]+)"', page)
    assert secret and sealed, "the page is not the set-up page"
    return secret.group(1), sealed.group(1)


def totp_of(runtime: Runtime, name: str) -> str | None:
    with runtime.sessions() as session:
        return session.scalar(select(StaffMember.totp_secret).where(StaffMember.name == name))


def fresh_code(secret: str) -> str:
    """A code of a time step no test has used yet (waits for the next step if need be)."""
    return pyotp.TOTP(secret).now()


def test_a_member_with_a_factor_cannot_set_up_another_with_the_password_alone(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN, totp=SECRET)
    assert sign_in(console, "lee").headers["location"] == "/console/login/code"
    setup = console.get("/console/login/setup", follow_redirects=False)
    assert setup.status_code == 303 and setup.headers["location"] == "/console/login/code"
    # Even with a sealed secret made for someone else's set-up, nothing changes.
    mine = pyotp.random_base32()
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer(web_runtime.settings.secret_key, salt="followup-totp").dumps(
        mine
    )
    code_page = console.get("/console/login/code")
    posted = console.post(
        "/console/login/setup",
        data={"csrf": form_token(code_page.text), "sealed": forged, "code": fresh_code(mine)},
        follow_redirects=False,
    )
    assert posted.status_code in {303, 403}
    assert posted.headers.get("location") != "/console/"
    assert totp_of(web_runtime, "lee") == SECRET
    assert console.get("/console/inbox", follow_redirects=False).status_code == 303


def test_a_signed_in_member_cannot_replace_their_factor_from_the_set_up_page(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "ana", Role.ADMIN)
    with transaction(web_runtime.sessions) as session:
        require_second_factor(session, Role.ADMIN, True)
    sign_in(console, "ana")
    secret, sealed = sealed_secret(console.get("/console/login/setup").text)
    page = console.get("/console/login/setup")
    console.post(
        "/console/login/setup",
        data={"csrf": form_token(page.text), "sealed": sealed, "code": fresh_code(secret)},
    )
    assert totp_of(web_runtime, "ana") == secret
    again = console.get("/console/login/setup", follow_redirects=False)
    assert again.status_code == 303 and totp_of(web_runtime, "ana") == secret


def test_a_sealed_secret_works_only_in_the_session_it_was_shown_in(
    web_runtime: Runtime, web_client_pair: tuple[TestClient, TestClient]
) -> None:
    first, second = web_client_pair
    make_staff(web_runtime, "ana", Role.ADMIN)
    with transaction(web_runtime.sessions) as session:
        require_second_factor(session, Role.ADMIN, True)
    sign_in(first, "ana")
    secret, sealed = sealed_secret(first.get("/console/login/setup").text)
    sign_in(second, "ana")
    page = second.get("/console/login/setup")
    taken = second.post(
        "/console/login/setup",
        data={"csrf": form_token(page.text), "sealed": sealed, "code": fresh_code(secret)},
        follow_redirects=False,
    )
    assert taken.headers.get("location") != "/console/"
    assert totp_of(web_runtime, "ana") is None


def test_a_code_is_accepted_once(web_runtime: Runtime, console: TestClient) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN, totp=SECRET)
    sign_in(console, "lee")
    form = console.get("/console/login/code")
    code = fresh_code(SECRET)
    first = console.post(
        "/console/login/code",
        data={"csrf": form_token(form.text), "code": code},
        follow_redirects=False,
    )
    assert first.status_code == 303 and first.headers["location"] == "/console/"
    console.cookies.clear()
    sign_in(console, "lee")
    form = console.get("/console/login/code")
    replayed = console.post(
        "/console/login/code", data={"csrf": form_token(form.text), "code": code}
    )
    assert replayed.status_code == 401
    # An earlier step than the last accepted one is no better.
    older = pyotp.TOTP(SECRET).at(time.time() - 30)
    assert (
        console.post(
            "/console/login/code", data={"csrf": form_token(form.text), "code": older}
        ).status_code
        == 401
    )


def test_the_session_id_changes_when_the_second_factor_is_given(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "lee", Role.CLINICIAN, totp=SECRET)
    sign_in(console, "lee")
    before = console.cookies.get("followup_session")
    form = console.get("/console/login/code")
    done = console.post(
        "/console/login/code",
        data={"csrf": form_token(form.text), "code": fresh_code(SECRET)},
        follow_redirects=False,
    )
    after = done.cookies.get("followup_session")
    assert after and after != before
    # The cookie issued after the password alone is not the signed-in session.
    console.cookies.clear()
    stale = console.get(
        "/console/inbox", headers={"Cookie": f"followup_session={before}"}, follow_redirects=False
    )
    assert stale.status_code == 303 and stale.headers["location"].startswith("/console/login")
    fresh = console.get("/console/inbox", headers={"Cookie": f"followup_session={after}"})
    assert fresh.status_code == 200
