"""The whole staff API fuzzed from its own OpenAPI document (schemathesis), against the
real server on PostgreSQL (whose integers overflow where SQLite's do not): whatever a
request holds, the answer is never a 5xx (issue 20, point 6). The document states each
id's bounds, so the fuzz draws ids up to their edges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from starlette.routing import Mount

from followup.config import Settings
from followup.db import transaction
from followup.models.staff import Role
from followup.runtime import Runtime, use
from followup.staff.members import add_staff, issue_token, set_contacts
from followup.web.app import create_app
from tests.conftest import add_patient
from tests.live_server import LiveServer

# Examples per operation: enough to reach every field's edges, few enough that the
# fifteen operations take well under a minute.
EXAMPLES = 25


class Fuzzed:
    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = requests.Session()


@pytest.fixture
def fuzzed(empty_postgres: str) -> Iterator[Fuzzed]:
    runtime = Runtime(Settings(database_url=empty_postgres, rate_limit_api="1000000/minute"))
    use(runtime)
    add_patient(runtime)
    with transaction(runtime.sessions) as session:
        admin = add_staff(session, name="ana", role=Role.ADMIN)
        set_contacts(admin, phone="+12015550166", email="ana@clinic.example")
        _, token = issue_token(session, admin)
    with LiveServer(runtime) as server:
        yield Fuzzed(server, token)
    use(None)
    runtime.close()


def openapi_document() -> dict[str, object]:
    """The document the app serves at /openapi.json (building it connects to nothing)."""
    mounted = create_app(Runtime(Settings(database_url="sqlite://"))).routes[-1]
    assert isinstance(mounted, Mount) and isinstance(mounted.app, FastAPI)
    return mounted.app.openapi()


schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_to_the_api_makes_the_server_fail(case: Case, fuzzed: Fuzzed) -> None:
    response = case.call(base_url=fuzzed.server.url, headers=fuzzed.headers, session=fuzzed.http)
    case.validate_response(response, checks=[not_a_server_error])
