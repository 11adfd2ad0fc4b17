"""Every console form fuzzed (hypothesis): any path ids, any fields, any values, posted
by a signed-in admin with a good CSRF token, on PostgreSQL: the answer is never a 5xx
(issue 20, point 6). The forms are found from the app's routes, so a new one is fuzzed
without being listed here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.config import Settings
from followup.console.campaigns import FIELDS
from followup.models.staff import Role
from followup.runtime import Runtime, use
from followup.web.app import create_app
from tests.conftest import PUBLIC, add_patient
from tests.console.test_console import form_token, make_staff, sign_in

EXAMPLES = 300


def console_forms(site: object) -> list[tuple[str, list[str]]]:
    """(path, field names) of every POST route under /console/."""
    found = []
    for context in iter_route_contexts(site.routes):  # type: ignore[attr-defined]
        route = context.original_route
        posted = "POST" in (context.methods or ())
        if isinstance(route, APIRoute) and posted and (context.path or "").startswith("/console/"):
            fields = [param.alias for param in route.dependant.body_params]
            found.append((str(context.path), fields))
    return sorted(found)


class Console:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""
        self.sign_in()

    def sign_in(self) -> None:
        self.client.cookies.clear()
        sign_in(self.client, "ana")
        self.csrf = form_token(self.client.get("/console/patients").text)


@pytest.fixture
def console_under_fuzz(empty_postgres: str) -> Iterator[tuple[Console, list]]:
    runtime = Runtime(Settings(database_url=empty_postgres, public_url=PUBLIC))
    use(runtime)
    add_patient(runtime)
    make_staff(runtime, "ana", Role.ADMIN)
    make_staff(runtime, "maria", Role.STAFF)
    app = create_app(runtime)
    forms = console_forms(app.routes[-1].app)  # type: ignore[attr-defined]
    with TestClient(app, base_url=PUBLIC) as client:
        yield Console(client), forms
    use(None)
    runtime.close()


segment = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["P1", "maria", "disable", "enable", "token", "pause", "launch", "x"]),
    st.text(min_size=1, max_size=20).map(lambda s: quote(s, safe="")),
)
value = st.one_of(
    st.text(max_size=60),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["sms", "email", "care", "campaign", "yes", "no", "pause", "resume", ""]),
    st.sampled_from(["/console/\r\nX: y", "//evil.example", "2026-13-45", "9" * 400]),
)
KNOWN = sorted({*FIELDS, "save", "totp", "to", "back", "note", "reason", "text", "channel"})


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_console_form_makes_the_server_fail(
    console_under_fuzz: tuple[Console, list[tuple[str, list[str]]]], data: st.DataObject
) -> None:
    console, forms = console_under_fuzz
    path, fields = data.draw(st.sampled_from(forms))
    url = re.sub(r"\{[^}]+\}", lambda _: data.draw(segment), path)
    names = st.sampled_from(sorted({*fields, *KNOWN}))
    form = data.draw(st.dictionaries(names, value, max_size=8)) | {"csrf": console.csrf}
    answer = console.client.post(url, data=form, follow_redirects=False)
    assert answer.status_code < 500, (url, form, answer.text[:300])
    if answer.headers.get("location", "").startswith("/console/login"):
        console.sign_in()  # the fuzz signed ana out (or reset her factor): carry on
