"""/metrics: off unless enabled or asked with its token; Prometheus names; counts that
add up across processes; no patient, address or message id in any label."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import add_patient, enrol_visit, free_port, tick
from tests.peers.twilio_server import TwilioPeer

# Every label any followup metric may carry.
LABELS = {"state", "channel", "purpose", "outcome", "code", "queue", "level", "triage",
          "reader", "route", "method", "status", "tick", "le"}


LIVEZ = ("followup_http_request_duration_seconds_count", {"route": "/livez", "method": "GET", "status": "200"})


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, labels: dict[str, str] | None = None, **more: str) -> float:
    wanted = (labels or {}) | more
    return samples(text).get((name, frozenset(wanted.items())), 0.0)


def test_metrics_are_off_unless_enabled_or_asked_with_the_token(runtime: Runtime) -> None:
    assert TestClient(create_app(runtime)).get("/metrics").status_code == 404

    enabled = Runtime(runtime.settings.with_overrides(metrics_enabled=True))
    response = TestClient(create_app(enabled)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")

    guarded = TestClient(create_app(Runtime(runtime.settings.with_overrides(metrics_token="s3cret-scrape-token"))))
    assert guarded.get("/metrics").status_code == 404
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    answer = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert answer.status_code == 200
    assert "followup_messages" in answer.text


def test_a_send_shows_in_the_counters_and_no_label_names_a_patient(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    rt = Runtime(live_runtime.settings.with_overrides(metrics_enabled=True), live_runtime.channels)
    client = TestClient(create_app(rt))
    before = client.get("/metrics").text
    patient = add_patient(rt)
    enrol_visit(rt, patient)
    from followup.models import Message, utcnow  # noqa: PLC0415

    with rt.sessions() as session:
        first_due = min(m.due_at for m in session.query(Message))
    tick(rt, first_due)
    client.post(f"/twilio/status/{10**6}", data={})  # an unsigned callback: refused
    after = client.get("/metrics").text

    assert value(after, "followup_sends_total", channel="sms", outcome="sent") == (
        value(before, "followup_sends_total", channel="sms", outcome="sent") + 1
    )
    assert value(after, "followup_send_duration_seconds_count", channel="sms") > value(
        before, "followup_send_duration_seconds_count", channel="sms"
    )
    assert value(after, "followup_messages", state="sent", channel="sms", purpose="care") == 1
    route = "/twilio/status/{message_id}"
    assert value(
        after, "followup_http_request_duration_seconds_count", route=route, method="POST",
        status="403",
    ) >= 1
    for (name, labels), _ in samples(after).items():
        assert name.startswith(("followup_", "python_", "process_")), name
        assert {key for key, _ in labels} <= LABELS, (name, labels)
        for _, label in labels:
            assert patient.phone not in label and str(10**6) not in label
    rt.close()


@pytest.fixture
def served(tmp_path: Path, runtime: Runtime) -> Iterator[str]:
    """`followup serve --workers 2` with multiprocess metrics, on a port of its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {
        "FOLLOWUP_DATABASE_URL": runtime.settings.database_url,
        "FOLLOWUP_METRICS_ENABLED": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    followup = Path(sys.executable).parent / "followup"
    server = subprocess.Popen(
        [str(followup), "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/livez", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "followup serve did not start"
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(20)


def test_the_web_workers_counts_add_up_in_one_scrape(served: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=served) as client:
        before = value(client.get("/metrics").text, *LIVEZ)
        for _ in range(40):  # a new connection each: either process may take it
            assert client.get("/livez", headers={"Connection": "close"}).status_code == 200
        after = value(client.get("/metrics").text, *LIVEZ)
    assert after - before == 40
    # Each process wrote its own file; the scrape read them all.
    assert len(list(tmp_path.glob("histogram_*.db"))) >= 1
