"""The probes of issue 20 (points 6 and 7) against the real server in production mode
(uvicorn on a loopback port, PostgreSQL, Redis): out-of-range ids, unknown rows,
values outside their set and header-breaking redirect targets get a 4xx, never a 5xx
or a dropped connection; and the headers and cookies production promises."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
import redis as redis_lib
import requests
from sqlalchemy import func, select

from followup.config import Settings
from followup.db import transaction
from followup.models.staff import Role, StaffSession
from followup.runtime import Runtime, use
from followup.staff.members import add_staff, issue_token
from tests.conftest import REDIS_URL, add_patient
from tests.console.test_console import PASSWORD, make_staff
from tests.live_server import LiveServer
from tests.test_config import PRODUCTION

TOO_BIG = 2**31


@pytest.fixture
def production(empty_postgres: str, redis: redis_lib.Redis) -> Iterator[Runtime]:
    settings = Settings.from_env(
        PRODUCTION | {"FOLLOWUP_DATABASE_URL": empty_postgres, "FOLLOWUP_REDIS_URL": REDIS_URL}
    )
    runtime = Runtime(settings)
    use(runtime)
    yield runtime
    use(None)
    runtime.close()


@pytest.fixture
def server(production: Runtime) -> Iterator[LiveServer]:
    with LiveServer(production) as live:
        yield live


class Browser:
    """A browser on the plain-http loopback server: it sends its cookies although
    production marks them Secure (a real browser sees the https proxy in front)."""

    def __init__(self, server: LiveServer) -> None:
        self.url = server.url
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        header = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        answer = requests.request(
            method,
            self.url + path,
            headers={"Cookie": header},
            allow_redirects=False,
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )
        for raw in answer.raw.headers.getlist("Set-Cookie"):
            self.set_cookies.append(raw)
            for name, morsel in SimpleCookie(raw).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return answer

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.request("GET", path).text)
        assert found, f"{path} has no form"
        return found.group(1)

    def sign_in(self, name: str, next_path: str = "/console/") -> requests.Response:
        return self.request(
            "POST",
            "/console/login",
            data={
                "name": name,
                "password": PASSWORD,
                "csrf": self.csrf("/console/login"),
                "next": next_path,
            },
        )


def test_out_of_range_ids_unknown_rows_and_bad_choices_get_a_clear_4xx(
    server: LiveServer, production: Runtime
) -> None:
    add_patient(production)
    make_staff(production, "ana", Role.ADMIN)
    with transaction(production.sessions) as session:
        _, token = issue_token(session, add_staff(session, name="api-admin", role=Role.ADMIN))
    browser = Browser(server)
    assert browser.sign_in("ana").status_code == 303
    csrf = browser.csrf("/console/patients/P1")
    posts = [
        f"/console/alerts/{TOO_BIG}/ack",
        f"/console/replies/{TOO_BIG}/handled",
        f"/console/replies/{TOO_BIG}/assign",
        f"/console/messages/{TOO_BIG}/settle",
        f"/console/tokens/{TOO_BIG}/revoke",
        f"/console/staff/{TOO_BIG}/disable",
        "/console/staff/0/disable",
        "/console/staff/4242/disable",  # no such member
        "/console/staff/4242/contacts",
        "/console/staff/1/bogus",
    ]
    answers = {path: browser.request("POST", path, data={"csrf": csrf}) for path in posts}
    answers[f"GET /console/alerts/{TOO_BIG}"] = browser.request("GET", f"/console/alerts/{TOO_BIG}")
    for form in (
        {"channel": "bogus", "purpose": "care", "granted": "no", "reason": "asked"},
        {"channel": "sms", "purpose": "x", "granted": "no", "reason": "asked"},
        {"channel": "sms", "purpose": "care", "granted": "maybe", "reason": "asked"},
    ):
        answers[f"consent {form}"] = browser.request(
            "POST", "/console/patients/P1/consent", data=form | {"csrf": csrf}
        )
    answers["answer channel"] = browser.request(
        "POST", "/console/patients/P1/answer", data={"csrf": csrf, "channel": "fax", "text": "hi"}
    )
    answers["series action"] = browser.request(
        "POST", "/console/patients/P1/series", data={"csrf": csrf, "action": "x", "reason": "r"}
    )
    answers["settle action"] = browser.request(
        "POST", "/console/messages/1/settle", data={"csrf": csrf, "action": "x", "reason": "r"}
    )
    answers["inbox triage"] = browser.request("GET", "/console/inbox?triage=bogus&office=x")
    bearer = {"Authorization": f"Bearer {token}"}
    answers["api delete"] = requests.delete(f"{server.url}/api/tokens/{TOO_BIG}", headers=bearer)
    answers["api limit"] = requests.get(
        f"{server.url}/api/replies?limit=99999999999", headers=bearer
    )
    for probe, answer in answers.items():
        assert 400 <= answer.status_code < 500, (probe, answer.status_code, answer.text[:200])
    assert answers["/console/staff/4242/disable"].status_code == 404
    assert "no staff member #4242" in answers["/console/staff/4242/disable"].text


@pytest.mark.parametrize(
    "target",
    [
        "/console/\r\nSet-Cookie: x=1",
        "/console/%0d%0aSet-Cookie:x=1",
        "//evil.example/console/",
        "https://evil.example/console/",
        "/console/\\\\evil.example",
        "/console/../../evil",
    ],
)
def test_a_sign_in_redirect_target_is_a_checked_local_path(
    server: LiveServer, production: Runtime, target: str
) -> None:
    make_staff(production, "ana", Role.ADMIN)
    browser = Browser(server)
    signed = browser.sign_in("ana", target)
    assert signed.status_code == 303 and signed.headers["location"] == "/console/"
    with production.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StaffSession)) == 1
    login = browser.request("GET", "/console/login", params={"next": target})
    assert login.status_code == 200 and "evil" not in login.text
    # An inbox form's `back` (its filters) is a query string, nothing else.
    csrf = browser.csrf("/console/inbox")
    back = browser.request(
        "POST", "/console/replies/1/handled", data={"csrf": csrf, "back": "triage=x\r\nX: y"}
    )
    assert back.status_code == 404  # no reply #1; and no header broken on the way


def test_production_cookies_headers_and_sign_out(server: LiveServer, production: Runtime) -> None:
    make_staff(production, "ana", Role.ADMIN)
    browser = Browser(server)
    browser.request("GET", "/console/login")
    [login_cookie] = [c for c in browser.set_cookies if c.startswith("followup_login=")]
    assert "Secure" in login_cookie and "HttpOnly" in login_cookie
    browser.sign_in("ana")
    page = browser.request("GET", "/console/staff")
    policy = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "style-src 'self'" in policy
    # A form posted from elsewhere (no CSRF token) does not sign anyone out.
    forged = browser.request("POST", "/console/logout", data={})
    assert forged.status_code == 403
    assert browser.request("GET", "/console/staff").status_code == 200
    signed_out = browser.request(
        "POST", "/console/logout", data={"csrf": browser.csrf("/console/")}
    )
    assert signed_out.status_code == 303
    assert browser.request("GET", "/console/staff").status_code == 303


def test_patient_pages_carry_the_policy_and_no_framing_whatever_they_answer(
    server: LiveServer,
) -> None:
    answers = [requests.get(f"{server.url}/u/not-a-token") for _ in range(32)]
    answers += [requests.post(f"{server.url}/r/not-a-token/note", data={"note": "x"})]
    answers += [requests.get(f"{server.url}/assets/page.css")]
    assert {a.status_code for a in answers} >= {400, 429}  # refused, then rate-limited
    for answer in answers:
        policy = answer.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        assert answer.headers.get("X-Frame-Options") == "DENY"
