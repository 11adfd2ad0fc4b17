"""The fault run's own servers and processes: a redis-server it may kill, an SMTP server
that refuses on cue, and the production worker's command line."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import redis
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from followup.config import PROJECT_ROOT
from tests.conftest import free_port

CELERY = Path(sys.executable).parent / "celery"  # this venv's, in place of /opt/followup's
MESSAGE_ID = re.compile(r"\.m(\d+)@")


class RedisServer:
    """A redis-server of the run's own, on its own port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class FlakySmtp:
    """Accepts mail, after answering 451 to the first `refuse` messages."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.received: Counter[int] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 Temporary local problem, try again later"
            content = envelope.content
            found = MESSAGE_ID.search(
                content.decode(errors="replace") if isinstance(content, bytes) else str(content)
            )
            if found:
                self.received[int(found.group(1))] += 1
        return "250 Message accepted for delivery"


def worker_command() -> list[str]:
    """The production worker's command line, from its systemd unit, run from our venv."""
    unit = (PROJECT_ROOT / "deploy" / "systemd" / "followup-worker.service").read_text()
    [line] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    program, *arguments = shlex.split(line.removeprefix("ExecStart="))
    if Path(program).name != "celery":
        raise ValueError(f"the worker unit runs {program}, not celery")
    return [str(CELERY), *arguments]


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and everything it started (its children share its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
