"""JSON log lines: one object per line on the worker, beat and web processes, with
the task id or the request id, phone numbers and emails masked, and the twilio
client's request lines off unless asked for."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from followup.config import Settings
from followup.db import upgrade_to_head
from followup.operations.logs import (
    TWILIO_LOGGER,
    JsonFormatter,
    quiet_provider_clients,
    request_id,
)
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.faults.services import CELERY, RedisServer


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("followup.test", logging.WARNING, __file__, 1, message, args, None)


def test_a_line_is_one_json_object_with_phones_and_emails_masked() -> None:
    token = request_id.set("req-42")
    try:
        line = JsonFormatter().format(record("texting %s at %s", "+12015550123", "pat@example.com"))
    finally:
        request_id.reset(token)
    parsed = json.loads(line)
    assert parsed["message"] == "texting [phone] at [email]"
    assert parsed["request_id"] == "req-42"
    assert parsed["level"] == "WARNING" and parsed["logger"] == "followup.test"
    assert "\n" not in line


def test_the_web_app_hands_back_the_request_id_it_logs_with(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    given = client.get("/livez", headers={"X-Request-ID": "from-the-proxy-1"})
    assert given.headers["X-Request-ID"] == "from-the-proxy-1"
    made = client.get("/livez", headers={"X-Request-ID": "not a plain token!"})
    assert len(made.headers["X-Request-ID"]) == 32


def test_the_twilio_clients_request_lines_are_off_by_default() -> None:
    logger = logging.getLogger(TWILIO_LOGGER)
    quiet_provider_clients(Settings())
    assert not logger.isEnabledFor(logging.INFO)
    quiet_provider_clients(Settings(log_provider_requests=True))
    assert logger.isEnabledFor(logging.INFO)
    quiet_provider_clients(Settings())


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[dict[str, str]]:
    server = RedisServer()
    server.start()
    database = f"sqlite:///{tmp_path / 'followup.db'}"
    upgrade_to_head(database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {
        "FOLLOWUP_DATABASE_URL": database,
        "FOLLOWUP_REDIS_URL": server.url,
        "FOLLOWUP_TICK_SECONDS": "1",
        "FOLLOWUP_LOG_FORMAT": "json",
    }
    yield env
    server.stop()


def json_lines(path: Path) -> list[dict[str, object]]:
    """Every log line of a process, each one JSON object. Celery prints its start-up
    banner (and Python its warnings before logging is set up) as plain text: those
    are not log lines, but no line in Celery's own log format may be left."""
    lines = path.read_text().splitlines()
    assert not [line for line in lines if line.startswith("[20")], path.read_text()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_worker_beat_and_web_write_json_lines(processes: dict[str, str], tmp_path: Path) -> None:
    commands = {
        "worker": [
            str(CELERY),
            "-A",
            "followup",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": [
            str(CELERY),
            "-A",
            "followup",
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'schedule'}",
        ],
        "web": [str(Path(sys.executable).parent / "followup"), "serve", "--port", "0"],
    }
    started = {}
    for name, command in commands.items():
        with (tmp_path / f"{name}.log").open("wb") as out:
            started[name] = subprocess.Popen(
                command,
                env=processes,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    try:
        deadline = time.monotonic() + 60
        while "succeeded" not in (tmp_path / "worker.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
    finally:
        for process in started.values():
            process.terminate()
            process.wait(20)
    worker = json_lines(tmp_path / "worker.log")
    done = [line for line in worker if "succeeded" in str(line["message"])]
    assert done and all(line.get("task_id") for line in done), done
    beat = json_lines(tmp_path / "beat.log")
    assert any("Sending due task dispatch-due" in str(line["message"]) for line in beat)
    web = json_lines(tmp_path / "web.log")
    assert any("Uvicorn running" in str(line["message"]) for line in web), web
    assert len(web) == len((tmp_path / "web.log").read_text().splitlines())
