"""/metrics: off unless enabled or asked with its token; Prometheus names; counts that
add up across processes; no patient, address or message id in any label."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC, REDIS_URL, add_patient, enrol_visit, free_port, tick
from tests.peers.twilio_server import TwilioPeer

# Every label any followup metric may carry.
LABELS = {
    "state",
    "channel",
    "purpose",
    "outcome",
    "code",
    "queue",
    "level",
    "triage",
    "reader",
    "route",
    "method",
    "status",
    "tick",
    "le",
}


LIVEZ = (
    "followup_http_request_duration_seconds_count",
    {"route": "/livez", "method": "GET", "status": "200"},
)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, labels: dict[str, str] | None = None, **more: str) -> float:
    wanted = (labels or {}) | more
    return samples(text).get((name, frozenset(wanted.items())), 0.0)


def test_metrics_are_off_unless_enabled_or_asked_with_the_token(
    runtime: Runtime, variant: Callable[..., Runtime]
) -> None:
    assert TestClient(create_app(runtime)).get("/metrics").status_code == 404

    enabled = variant(metrics_enabled=True)
    response = TestClient(create_app(enabled)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")

    guarded = TestClient(create_app(variant(metrics_token="s3cret-scrape-token")))
    assert guarded.get("/metrics").status_code == 404
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    answer = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert answer.status_code == 200
    assert "followup_messages" in answer.text


def test_a_send_shows_in_the_counters_and_no_label_names_a_patient(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    rt = Runtime(live_runtime.settings.with_overrides(metrics_enabled=True), live_runtime.channels)
    try:
        check_a_send(rt, TestClient(create_app(rt)))
    finally:
        rt.close()


def check_a_send(rt: Runtime, client: TestClient) -> None:
    before = client.get("/metrics").text
    patient = add_patient(rt)
    enrol_visit(rt, patient)
    from followup.models.outbox import Message

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
    assert (
        value(
            after,
            "followup_http_request_duration_seconds_count",
            route=route,
            method="POST",
            status="403",
        )
        >= 1
    )
    for (name, labels), _ in samples(after).items():
        assert name.startswith(("followup_", "python_", "process_")), name
        if not name.startswith("followup_"):
            continue
        assert {key for key, _ in labels} <= LABELS, (name, labels)
        for _, label in labels:
            assert str(patient.phone) not in label and str(10**6) not in label


def metrics_dir(tmp_path: Path) -> Path:
    (tmp_path / "metrics").mkdir(exist_ok=True)
    return tmp_path / "metrics"


@pytest.fixture
def served(tmp_path: Path, runtime: Runtime) -> Iterator[str]:
    """`followup serve --workers 2` with multiprocess metrics, on a port of its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {
        "FOLLOWUP_DATABASE_URL": runtime.settings.database_url,
        "FOLLOWUP_METRICS_ENABLED": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(tmp_path)),
        # With no broker, serve does the periodic work itself and so runs one process.
        "FOLLOWUP_REDIS_URL": REDIS_URL,
    }
    followup = Path(sys.executable).parent / "followup"
    log = tmp_path.parent / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(followup), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # two processes importing the app, on a busy machine
        while True:
            try:
                get(f"{url}/livez")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(20)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # a new connection each time
        return str(response.read().decode())


def test_the_web_workers_counts_add_up_in_one_scrape(served: str, tmp_path: Path) -> None:
    before = value(get(f"{served}/metrics"), *LIVEZ)
    for _ in range(40):  # either process may take each connection
        get(f"{served}/livez")
    after = value(get(f"{served}/metrics"), *LIVEZ)
    assert after - before == 40
    # Each process wrote its own file; the scrape read them all.
    assert len(list(metrics_dir(tmp_path).glob("histogram_*.db"))) >= 1


def test_a_file_left_empty_by_a_killed_process_does_not_break_the_scrape(
    served: str, tmp_path: Path
) -> None:
    """A process killed between creating its file and sizing it leaves it empty."""
    (metrics_dir(tmp_path) / "counter_999999.db").touch()
    before = value(get(f"{served}/metrics"), *LIVEZ)  # an error status would raise here
    get(f"{served}/livez")
    assert value(get(f"{served}/metrics"), *LIVEZ) - before == 1


def test_replies_and_escalations_are_counted_by_triage_and_level(web_runtime: Runtime) -> None:
    from datetime import timedelta

    from followup.models.base import utcnow
    from followup.tasks import escalate_alerts
    from tests.web.test_web import sent_welcome, sms

    rt = Runtime(web_runtime.settings.with_overrides(metrics_enabled=True), web_runtime.channels)
    try:
        with TestClient(create_app(rt), base_url=PUBLIC) as client:
            before = client.get("/metrics").text
            sent_welcome(rt)
            sms(client, "STOP", sid="SM-stop")
            sms(client, "START", sid="SM-start")
            sms(client, "I can't feel my legs and I wet myself", sid="SM-urgent")
            sms(client, "I can't feel my legs and I wet myself", sid="SM-urgent")  # a retry
            escalate_alerts.apply(args=((utcnow() + timedelta(hours=1)).isoformat(),))
            after = client.get("/metrics").text
    finally:
        rt.close()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, labels) - value(before, name, labels)

    emergencies = sum(
        grew("followup_replies_total", triage="emergency", reader=reader)
        for reader in ("rules", "model", "both")
    )
    assert emergencies == 1
    assert grew("followup_replies_total", triage="none", reader="keyword") == 2
    assert grew("followup_escalation_steps_total", level="emergency") == 1
    assert value(after, "followup_open_alerts", level="emergency") == 1
    assert value(after, "followup_oldest_unacknowledged_alert_age_seconds", level="emergency") >= 0
