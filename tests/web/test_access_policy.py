"""One access policy for the console and the API (issue 20, points 2 and 5): every
route of the app is in the table below, and every role is tried on every route that
needs one, as a signed-in browser or a bearer token; a route added without an entry
fails the first test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.routing import Mount

from followup.db import transaction
from followup.models.base import utcnow
from followup.models.staff import Role, StaffMember
from followup.runtime import Runtime
from followup.staff.members import add_staff, issue_token
from followup.web.app import create_app
from tests.conftest import PUBLIC
from tests.console.test_console import form_token, make_staff, sign_in
from tests.web.test_web import sent_welcome, sms

PUBLIC_ROUTE = None
S, C, A = Role.STAFF, Role.CLINICIAN, Role.ADMIN
# The least role each route needs (every role above it may too); None: no sign-in.
TABLE: dict[tuple[str, str], Role | None] = {
    ("POST", "/twilio/sms"): PUBLIC_ROUTE,  # signed by Twilio
    ("POST", "/twilio/status/{message_id:int}"): PUBLIC_ROUTE,
    ("GET", "/livez"): PUBLIC_ROUTE,  # the supervisor's and the proxy's probes
    ("GET", "/readyz"): PUBLIC_ROUTE,
    ("GET", "/metrics"): PUBLIC_ROUTE,  # off, or behind FOLLOWUP_METRICS_TOKEN: no staff role
    ("GET", "/openapi.json"): PUBLIC_ROUTE,
    ("GET", "/docs"): PUBLIC_ROUTE,
    ("GET", "/docs/oauth2-redirect"): PUBLIC_ROUTE,
    ("GET", "/r/{token}"): PUBLIC_ROUTE,  # signed links in patients' emails
    ("GET", "/x/{token}"): PUBLIC_ROUTE,
    ("GET", "/d/{token}"): PUBLIC_ROUTE,
    ("POST", "/d/{token}"): PUBLIC_ROUTE,
    ("GET", "/a/{token}"): PUBLIC_ROUTE,
    ("POST", "/a/{token}"): PUBLIC_ROUTE,
    ("GET", "/m/{token}"): PUBLIC_ROUTE,
    ("POST", "/m/{token}"): PUBLIC_ROUTE,
    ("POST", "/r/{token}"): PUBLIC_ROUTE,
    ("POST", "/r/{token}/note"): PUBLIC_ROUTE,
    ("GET", "/u/{token}"): PUBLIC_ROUTE,
    ("POST", "/u/{token}"): PUBLIC_ROUTE,
    ("GET", "/console/login"): PUBLIC_ROUTE,
    ("POST", "/console/login"): PUBLIC_ROUTE,
    ("GET", "/console/login/code"): PUBLIC_ROUTE,  # the session of a password
    ("POST", "/console/login/code"): PUBLIC_ROUTE,
    ("GET", "/console/login/setup"): PUBLIC_ROUTE,
    ("POST", "/console/login/setup"): PUBLIC_ROUTE,
    ("POST", "/console/logout"): PUBLIC_ROUTE,
    ("GET", "/console/set-password/{token}"): PUBLIC_ROUTE,
    ("POST", "/console/set-password/{token}"): PUBLIC_ROUTE,
    # The console.
    ("GET", "/console/"): S,
    ("GET", "/console/alerts"): S,
    ("GET", "/console/alerts/closed"): S,
    ("GET", "/console/counts"): S,
    ("GET", "/console/nudges"): S,
    ("POST", "/console/patients/{ref}/exercises"): C,
    ("GET", "/console/outcomes"): C,
    ("GET", "/console/outcomes.csv"): C,
    ("POST", "/console/outcomes/refresh"): C,
    ("GET", "/console/alerts/table"): S,
    ("GET", "/console/alerts/{alert_id}"): S,
    ("POST", "/console/alerts/{alert_id}/ack"): C,
    ("GET", "/console/inbox"): S,
    ("POST", "/console/replies/{reply_id}/handled"): S,
    ("POST", "/console/replies/{reply_id}/assign"): S,
    ("GET", "/console/patients"): S,
    ("GET", "/console/patients/{ref}"): S,
    ("POST", "/console/patients/{ref}/consent"): S,
    ("POST", "/console/patients/{ref}/details"): S,
    ("POST", "/console/patients/{ref}/series"): S,
    ("GET", "/console/patients/{ref}/conversation"): S,
    ("POST", "/console/patients/{ref}/answer"): S,
    ("GET", "/console/campaigns"): S,
    ("GET", "/console/campaigns/new"): S,
    ("POST", "/console/campaigns/preview"): S,
    ("POST", "/console/campaigns/new"): S,
    ("GET", "/console/campaigns/{campaign}"): S,
    ("GET", "/console/campaigns/{campaign}/progress"): S,
    ("POST", "/console/campaigns/{campaign}/test-send"): S,
    ("GET", "/console/campaigns/{campaign}/{action}"): S,
    ("POST", "/console/campaigns/{campaign}/{action}"): S,
    ("GET", "/console/health"): S,
    ("POST", "/console/messages/{message_id}/settle"): S,
    ("GET", "/console/staff"): A,
    ("POST", "/console/staff"): A,
    ("POST", "/console/staff/{staff_id}/contacts"): A,
    ("GET", "/console/staff/{staff_id}/disable"): A,  # the confirmation step
    ("POST", "/console/staff/{staff_id}/{action}"): A,
    ("POST", "/console/tokens/{token_id}/revoke"): A,
    ("POST", "/console/policies"): A,
    ("GET", "/console/audit"): A,
    # Exports: the list's own ability and EXPORT.
    ("GET", "/console/patients.csv"): S,
    ("GET", "/console/inbox.csv"): S,
    ("GET", "/console/alerts.csv"): S,
    ("GET", "/console/campaigns/{campaign}/results.csv"): S,
    ("GET", "/console/audit.csv"): A,
    # The API.
    ("GET", "/api/campaigns"): S,
    ("POST", "/api/campaigns"): S,
    ("GET", "/api/campaigns/{campaign}"): S,
    ("POST", "/api/campaigns/{campaign}/preview"): S,
    ("POST", "/api/campaigns/{campaign}/test-send"): S,
    ("POST", "/api/campaigns/{campaign}/launch"): S,
    ("POST", "/api/campaigns/{campaign}/pause"): S,
    ("POST", "/api/campaigns/{campaign}/resume"): S,
    ("POST", "/api/campaigns/{campaign}/cancel"): S,
    ("GET", "/api/patients"): S,
    ("GET", "/api/patients/{ref}"): S,
    ("PATCH", "/api/patients/{ref}"): S,
    ("GET", "/api/patients/{ref}/exercises"): S,
    ("PUT", "/api/visits/{ref}/exercises"): C,
    ("GET", "/api/patients/{ref}/visits"): S,
    ("GET", "/api/replies"): S,
    ("POST", "/api/staff"): A,
    ("POST", "/api/staff/{name}/tokens"): A,
    ("DELETE", "/api/tokens/{token_id}"): A,
}
ORDER = [S, C, A]
# What fills each path parameter: rows the fixture makes (or that do not exist: a
# refusal other than 403 still shows the role was let through).
FILL = {
    "{alert_id}": "1",
    "{reply_id}": "1",
    "{message_id}": "1",
    "{ref}": "P1",
    "{name}": "saturday",
    "{campaign}": "saturday",
    "{token_id}": "99",
}


def routes(app: Starlette) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, the mounted site's included."""
    found = set()
    for route in app.routes:
        inner = route.routes if isinstance(route, Mount) and route.path == "" else [route]
        for context in iter_route_contexts(inner):
            if context.path is None or isinstance(context.original_route, Mount):
                continue
            for method in context.methods or ():
                if method != "HEAD":
                    found.add((method, context.path))
    return found


def test_every_route_has_an_entry_in_the_access_table(web_runtime: Runtime) -> None:
    assert routes(create_app(web_runtime)) == set(TABLE)


@pytest.fixture
def world(web_runtime: Runtime) -> Iterator[TestClient]:
    """A patient with an alert, a campaign, a member of each role, an extra member."""
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as client:
        sent_welcome(web_runtime)
        sms(client, "I can't control my bladder since this morning")
        for role in ORDER:
            make_staff(web_runtime, role.value, role)
        with transaction(web_runtime.sessions) as session:
            add_staff(session, name="extra", role=Role.STAFF)
        yield client


def fill(path: str, runtime: Runtime) -> str:
    with runtime.sessions() as session:
        extra = session.scalar(select(StaffMember.id).where(StaffMember.name == "extra"))
    filled = path.replace("{staff_id}", str(extra))
    if path.startswith("/console/campaigns/{campaign}/{action}"):
        filled = filled.replace("{action}", "pause")
    filled = filled.replace("{action}", "password")
    for name, value in FILL.items():
        filled = filled.replace(name, value)
    return filled


@pytest.mark.parametrize("role", ORDER)
def test_each_role_reaches_exactly_what_the_table_gives_it(
    web_runtime: Runtime, world: TestClient, role: Role
) -> None:
    with transaction(web_runtime.sessions) as session:
        member = session.scalars(select(StaffMember).where(StaffMember.name == role.value)).one()
        _, token = issue_token(session, member)
    sign_in(world, role.value)
    csrf = form_token(world.get("/console/patients").text)
    refused: list[tuple[str, str]] = []
    allowed: list[tuple[str, str]] = []
    for (method, path), least in sorted(TABLE.items(), key=lambda item: item[0][1]):
        if least is None:
            continue
        url = fill(path, web_runtime)
        if path.startswith("/api/"):
            answer = world.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, json={}
            )
        else:
            answer = world.request(method, url, data={"csrf": csrf}, follow_redirects=False)
        assert answer.status_code < 500, (method, url, answer.text[:300])
        expected = ORDER.index(role) >= ORDER.index(least)
        (allowed if expected else refused).append((method, url))
        got = answer.status_code != 403
        assert got == expected, (role, method, url, answer.status_code, answer.text[:200])
        # Still signed in (no route signs this browser out by being tried).
        assert answer.status_code not in {401} and "/console/login" not in answer.headers.get(
            "location", ""
        ), (method, url)
    assert allowed, "the role reached nothing: the test would prove nothing"
    if role is not A:
        assert refused


def test_a_staff_token_reads_through_the_api_what_the_console_shows_that_role(
    web_runtime: Runtime, world: TestClient
) -> None:
    sms(world, "thanks, doing fine, pain 2", sid="SM2")
    with transaction(web_runtime.sessions) as session:
        tokens = {
            role: issue_token(
                session,
                session.scalars(select(StaffMember).where(StaffMember.name == role.value)).one(),
            )[1]
            for role in (S, C)
        }
    shown = {
        role: {
            r["triage"]: r
            for r in world.get(
                "/api/replies", headers={"Authorization": f"Bearer {tokens[role]}"}
            ).json()
        }
        for role in (S, C)
    }
    assert shown[S]["emergency"]["body"] is None  # "(reply text: clinician role)"
    assert shown[S]["routine"]["body"] == "thanks, doing fine, pain 2"
    assert shown[S]["routine"]["pain"] is None  # the pain chart is a clinician's too
    assert "bladder" in shown[C]["emergency"]["body"] and shown[C]["routine"]["pain"] == 2
    sign_in(world, "staff")
    inbox = world.get("/console/inbox").text
    assert "bladder" not in inbox and "thanks, doing fine" in inbox


def test_a_disabled_members_tokens_stop_at_once(web_runtime: Runtime, world: TestClient) -> None:
    with transaction(web_runtime.sessions) as session:
        member = session.scalars(select(StaffMember).where(StaffMember.name == "staff")).one()
        _, token = issue_token(session, member)
    bearer = {"Authorization": f"Bearer {token}"}
    for path in ("/api/campaigns", "/api/patients/P1", "/api/replies"):
        assert world.get(path, headers=bearer).status_code == 200
    # Disabled however it happens (here in the database, as a script or the CLI would):
    # checked on every request, not only when the console's button revokes the tokens.
    with transaction(web_runtime.sessions) as session:
        session.execute(
            update(StaffMember).where(StaffMember.id == member.id).values(disabled_at=utcnow())
        )
    for path in ("/api/campaigns", "/api/patients/P1", "/api/replies"):
        assert world.get(path, headers=bearer).status_code == 401
