"""The staff API: tokens and roles on every endpoint, campaigns end to end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from followup.cli.main import main
from followup.db import transaction
from followup.models.staff import ApiToken
from followup.runtime import Runtime
from followup.staff.members import add_staff, issue_token, set_contacts
from followup.web.app import create_app
from tests.campaigns.test_lifecycle import patient

CAMPAIGN = {
    "name": "saturday",
    "channel": "sms",
    "segment": {"offices": ["Hoboken"]},
    "sms_text": "Hi {{ patient.first_name }}, we are open on Saturdays now.",
    "rate": 5,
}


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    issued = {}
    with transaction(runtime.sessions) as session:
        for name, role in (("maria", "staff"), ("ana", "admin")):
            member = add_staff(session, name=name, role=role)
            set_contacts(member, phone="+12015550999", email=f"{name}@clinic.example")
            issued[role] = issue_token(session, member)[1]
    return issued


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ENDPOINTS = [
    ("get", "/api/campaigns", None, "staff"),
    ("post", "/api/campaigns", CAMPAIGN, "staff"),
    ("get", "/api/campaigns/saturday", None, "staff"),
    ("post", "/api/campaigns/saturday/preview", None, "staff"),
    ("post", "/api/campaigns/saturday/test-send", {"channel": "sms"}, "staff"),
    ("post", "/api/campaigns/saturday/launch", None, "staff"),
    ("post", "/api/campaigns/saturday/pause", None, "staff"),
    ("post", "/api/campaigns/saturday/resume", None, "staff"),
    ("post", "/api/campaigns/saturday/cancel", None, "staff"),
    ("get", "/api/patients/P1", None, "staff"),
    ("get", "/api/patients/P1/visits", None, "staff"),
    ("get", "/api/replies", None, "staff"),
    ("post", "/api/staff", {"name": "lee", "role": "staff"}, "admin"),
    ("post", "/api/staff/maria/tokens", None, "admin"),
    ("delete", "/api/tokens/99", None, "admin"),
]


@pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS)
def test_every_endpoint_wants_a_token_and_its_role(
    api: TestClient, tokens: dict[str, str], method: str, path: str, body: object, role: str
) -> None:
    kwargs = {"json": body} if body is not None else {}
    assert getattr(api, method)(path, **kwargs).status_code == 401
    assert getattr(api, method)(path, headers=auth("fu_not-a-token"), **kwargs).status_code == 401
    if role == "admin":
        assert (
            getattr(api, method)(path, headers=auth(tokens["staff"]), **kwargs).status_code == 403
        )


def test_staff_run_a_campaign_through_the_api(
    api: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    patient(runtime, "P1")
    patient(runtime, "P2", campaign={})
    staff = auth(tokens["staff"])
    created = api.post("/api/campaigns", json=CAMPAIGN, headers=staff)
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "maria" and created.json()["status"] == "draft"
    shown = api.post("/api/campaigns/saturday/preview", headers=staff).json()
    assert shown["recipients"] == {"sms": 1} and shown["excluded"] == {
        "no campaign consent on record (never asked)": 1
    }
    assert shown["samples"][0]["encoding"] == "GSM-7" and shown["samples"][0]["segments"] == "1"
    sent = api.post("/api/campaigns/saturday/test-send", json={"channel": "sms"}, headers=staff)
    assert sent.status_code == 200 and sent.json()["provider_id"].startswith("console-sms-")
    assert sent.json()["sent_to"] == "+12015550999"  # maria's own, on her staff record
    launched = api.post("/api/campaigns/saturday/launch", headers=staff)
    assert launched.status_code == 202 and launched.headers["Location"] == "/api/campaigns/saturday"
    assert launched.json()["status"] == "running"
    assert launched.json()["launch"] == {"state": "queued", "done": 0, "total": None}
    # The test client runs the background writing before it returns.
    watched = api.get(launched.headers["Location"], headers=staff).json()
    assert watched["launch"] == {"state": "done", "done": 1, "total": 1}
    assert watched["progress"] == {"scheduled": 1}
    assert api.post("/api/campaigns/saturday/pause", headers=staff).json()["status"] == "paused"
    assert api.post("/api/campaigns/saturday/pause", headers=staff).status_code == 422
    assert api.get("/api/campaigns", headers=staff).json()[0]["name"] == "saturday"
    assert api.get("/api/patients/P1", headers=staff).json()["phone"] == "+12015550001"
    assert api.get("/api/patients/P1/visits", headers=staff).json()[0]["office"] == "hoboken"
    assert api.get("/api/patients/P9", headers=staff).status_code == 404


def test_invalid_bodies_get_field_errors_and_refusals_get_the_reason(
    api: TestClient, tokens: dict[str, str]
) -> None:
    staff = auth(tokens["staff"])
    bad = api.post("/api/campaigns", json=CAMPAIGN | {"channel": "fax", "rate": -1}, headers=staff)
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "channel"),
        ("body", "rate"),
    }
    unsafe = api.post(
        "/api/campaigns", json=CAMPAIGN | {"sms_text": "{{ patient.ssn }}"}, headers=staff
    )
    assert unsafe.status_code == 422 and "unknown field `patient.ssn`" in unsafe.json()["detail"]


def test_hostile_campaign_text_gets_a_prompt_refusal_with_the_reason(
    api: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    patient(runtime, "P1")
    staff = auth(tokens["staff"])
    power = api.post(
        "/api/campaigns", json=CAMPAIGN | {"sms_text": "{{ 9**(9**9) }}"}, headers=staff
    )
    assert power.status_code == 422
    assert "power makes a number of more than 1024 bits" in power.json()["detail"]
    # Nested loops behind the patient's name (every test patient is Pat): saved, as no
    # sample patient takes that branch, then refused when a preview renders Pat.
    loops = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    guarded = '{% if patient.first_name == "Pat" %}' + loops + "{% endif %}Hi"
    created = api.post("/api/campaigns", json=CAMPAIGN | {"sms_text": guarded}, headers=staff)
    assert created.status_code == 201, created.text
    shown = api.post("/api/campaigns/saturday/preview", headers=staff)
    assert shown.status_code == 422
    assert "more than 20000 loop steps and calls" in shown.json()["detail"]
    assert api.get("/api/campaigns", headers=staff).status_code == 200


def test_admins_manage_staff_and_revoked_tokens_stop_working(
    api: TestClient, tokens: dict[str, str]
) -> None:
    admin = auth(tokens["admin"])
    assert (
        api.post("/api/staff", json={"name": "lee", "role": "staff"}, headers=admin).status_code
        == 201
    )
    issued = api.post("/api/staff/lee/tokens", headers=admin).json()
    assert api.get("/api/campaigns", headers=auth(issued["token"])).status_code == 200
    assert api.delete(f"/api/tokens/{issued['id']}", headers=admin).status_code == 204
    assert api.get("/api/campaigns", headers=auth(issued["token"])).status_code == 401


def test_the_api_is_in_the_openapi_document(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/campaigns", "/api/campaigns/{campaign}/launch", "/api/replies"} <= set(paths)
    [ref] = paths["/api/campaigns/{campaign}/launch"]["post"]["parameters"]
    assert "id or slug" in ref["description"]
    body = api.get("/openapi.json").json()["components"]["schemas"]["CampaignIn"]["properties"]
    assert {"texts", "missing_text", "sms_text"} <= set(body)
    assert "/twilio/sms" not in paths


def test_staff_cli_issues_hashed_tokens(runtime: Runtime) -> None:
    cli = CliRunner(env={"FOLLOWUP_DATABASE_URL": runtime.settings.database_url})
    added = cli.invoke(main, ["staff", "add", "lee", "--role", "admin", "--link"]).output
    assert added.startswith("lee added as admin\none-time link to set the password")
    issued = cli.invoke(main, ["staff", "token", "lee"]).output
    token = issued.rsplit(" ", 1)[-1].strip()
    assert token.startswith("fu_")
    with runtime.sessions() as session:
        stored = session.query(ApiToken).one()
    assert stored.token_hash != token and len(stored.token_hash) == 64
    assert (
        cli.invoke(main, ["staff", "revoke", str(stored.id)]).output
        == f"token #{stored.id} revoked\n"
    )


def test_a_campaign_in_two_languages_is_addressed_by_slug_and_previewed_per_language(
    api: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    patient(runtime, "P1")
    patient(runtime, "P2", language="es")
    staff = auth(tokens["staff"])
    body = {
        "name": "Hoboken 12/2026 hours",
        "channel": "sms",
        "segment": {"offices": ["Hoboken"]},
        "texts": {
            "en": {"sms_text": "Hi {{ patient.first_name }}, open Saturdays."},
            "es": {"sms_text": "Hola {{ patient.first_name }}, abrimos los sabados."},
        },
        "missing_text": "skip",
    }
    created = api.post("/api/campaigns", json=body, headers=staff)
    assert created.status_code == 201, created.text
    made = created.json()
    assert (made["slug"], made["missing_text"]) == ("hoboken-12-2026-hours", "skip")
    assert made["texts"]["es"]["sms_text"].startswith("Hola")
    for ref in (made["slug"], str(made["id"])):
        shown = api.post(f"/api/campaigns/{ref}/preview", headers=staff).json()
        assert shown["languages"] == {"en": 1, "es": 1} and shown["without_text"] == {}
        assert {s["language"]: s["text"][:4] for s in shown["samples"]} == {
            "en": "Hi P",
            "es": "Hola",
        }
        assert shown["estimate"]["lines"][0].startswith("Texts start about")
    launched = api.post(f"/api/campaigns/{made['slug']}/launch", headers=staff)
    assert launched.headers["Location"] == "/api/campaigns/hoboken-12-2026-hours"
    assert api.post(f"/api/campaigns/{made['id']}/cancel", headers=staff).json()["status"] == (
        "cancelled"
    )


def test_a_rate_over_the_clinic_s_limit_is_refused_with_the_limit(
    tokens: dict[str, str], runtime: Runtime
) -> None:
    limited = Runtime(replace(runtime.settings, sms_rate=1.0))
    with TestClient(create_app(limited)) as client:
        refused = client.post(
            "/api/campaigns", json=CAMPAIGN | {"rate": 5}, headers=auth(tokens["staff"])
        )
    limited.close()
    assert refused.status_code == 422
    assert "the clinic's text sender sends at most 1 a second" in refused.json()["detail"]
