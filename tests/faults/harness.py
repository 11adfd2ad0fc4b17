"""One fault run: real `celery worker` processes on a Redis server of their own, the
Twilio-compatible server and an SMTP server misbehaving on cue, and the web app taking
Twilio's signed status callbacks, all on loopback; PostgreSQL in a schema of its own.

The run seeds due texts and emails (some patients share a phone and get identical
texts), plays beat (dispatch and reconcile ticks through the broker, twice a second),
restarts a worker that exits as systemd would, performs the scenario's disruption
once enough has been sent, and waits until nothing is left in flight. Then it counts,
for every due message, how often it reached the provider and what its row says.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from celery import Celery
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import ColumnElement, func, select

from bench.seeding import fresh_schema
from followup.config import PROJECT_ROOT, Settings
from followup.db import transaction
from followup.models.base import Channel
from followup.models.care import Consent, Episode, Patient, Visit
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.operations.metrics import ProcessFilesCollector
from followup.runtime import Runtime
from tests.conftest import POSTGRES_SERVER, free_port
from tests.live_server import LiveServer
from tests.peers.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer

SCHEMA = "followup_faults"
DRAIN_LIMIT = 120.0  # seconds a run may take to settle before it counts as stuck
TICK = 0.5
CELERY = Path(sys.executable).parent / "celery"  # this venv's, in place of /opt/followup's
MESSAGE_ID = re.compile(r"\.m(\d+)@")
REACHED = {MessageStatus.SENT, MessageStatus.DELIVERED}
IN_FLIGHT = (MessageStatus.QUEUED, MessageStatus.SENDING)


@dataclass
class Outcome:
    """What a run left behind, per due message."""

    scenario: str
    due: int = 0
    delivered_once: int = 0
    duplicates: int = 0
    lost: int = 0
    left_unknown: int = 0
    failed_with_reason: int = 0
    shared_provider_ids: int = 0
    # How the maybe-sent were settled (from the notes reconciliation leaves).
    settled_by_look_up: int = 0
    settled_by_callback: int = 0
    # Evidence the fault happened: programmed faults left unused, rows in flight
    # when the disruption hit.
    faults_unused: int = 0
    in_flight_when_disrupted: int | None = None
    worker_restarts: int = 0
    # Unsupervised runs: the worker exited and nothing started it again.
    worker_exited: bool = False
    # From the workers' metrics: sends counted as sent, scrapes taken during the run.
    sends_counted: int = 0
    scrapes: int = 0
    drain_seconds: float | None = None
    problems: list[str] = field(default_factory=list)


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


def zone_where_it_is(hour: int, now: datetime) -> str:
    """An IANA zone where the local time is now `hour` o'clock (give or take an hour)."""
    offset = (hour - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    # Etc/GMT zones carry the sign the other way round (Etc/GMT+5 is UTC-5).
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def daytime_zone(now: datetime) -> str:
    """A zone where it is early afternoon now, so no text meets quiet hours."""
    return zone_where_it_is(13, now)


@dataclass
class Mix:
    """What is due at the start of a run."""

    texts: int = 48
    families: int = 6  # phones shared by two patients of one name: identical texts
    emails: int = 16


class FaultRun:
    """Everything a scenario needs, started on enter and torn down on exit."""

    def __init__(
        self,
        scenario: str,
        *,
        smtp_refusals: int = 0,
        peer_latency: float = 0.1,
        callback_delay: float = 3.0,
        supervised: bool = True,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.scenario = scenario
        self.supervised = supervised
        self.overrides = settings or {}
        self.exits: list[int] = []
        self.scraped = ""
        self.scrapes = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="followup-faults-"))
        self.metrics_dir = self.workdir / "metrics"
        self.metrics_dir.mkdir()
        self.redis = RedisServer()
        self.peer = TwilioPeer(latency=peer_latency, callback_delay=callback_delay)
        self.smtp = FlakySmtp(refuse=smtp_refusals)
        self.smtp_controller = Controller(self.smtp, hostname="127.0.0.1", port=free_port())
        self.web_port = free_port()
        self.workers: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> FaultRun:
        self.redis.start()
        self.peer.start()
        self.smtp_controller.start()
        self.database_url = fresh_schema(POSTGRES_SERVER, SCHEMA)
        self.env = self._environment()
        self.settings = Settings.from_env(self.env)
        self.runtime = Runtime(self.settings)
        self.web = self.stack.enter_context(LiveServer(self.runtime, self.web_port))
        self.beat = Celery("fault-beat", broker=self.redis.url)
        self.beat.conf.update(
            broker_connection_retry_on_startup=True, task_default_queue="followup"
        )
        return self

    def __exit__(self, *_: object) -> None:
        for worker in self.workers:
            _kill_group(worker)
        self.stack.close()
        self.runtime.close()
        self.smtp_controller.stop()
        self.peer.stop()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FOLLOWUP_", "TWILIO_", "SMTP_"))
        }
        return (
            env
            | {
                "FOLLOWUP_DATABASE_URL": self.database_url,
                "FOLLOWUP_REDIS_URL": self.redis.url,
                "FOLLOWUP_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
                "FOLLOWUP_SMS_BACKEND": "twilio",
                "FOLLOWUP_EMAIL_BACKEND": "smtp",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_FROM_NUMBER": "+12015550199",
                "TWILIO_API_BASE_URL": self.peer.base_url,
                "TWILIO_TIMEOUT": "2",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(self.smtp_controller.port),
                # Minutes become seconds, so a run takes seconds.
                "FOLLOWUP_SMS_RATE": "30",
                "FOLLOWUP_SMS_CONCURRENCY": "8",
                "FOLLOWUP_BATCH_SIZE": "12",
                "FOLLOWUP_MAX_ATTEMPTS": "3",
                "FOLLOWUP_RETRY_BASE_SECONDS": "1",
                "FOLLOWUP_RETRY_MAX_SECONDS": "4",
                "FOLLOWUP_RECONCILE_AFTER_SECONDS": "1",
                "FOLLOWUP_LEASE_SECONDS": "3",
                "FOLLOWUP_QUEUE_WAIT_SECONDS": "10",
                # Every worker process counts into files here; the run scrapes them.
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            }
            | self.overrides
        )

    # -- the people and messages ------------------------------------------------------

    def seed(self, mix: Mix) -> list[int]:
        """Due texts and emails; returns their ids."""
        now = datetime.now(UTC)
        zone = daytime_zone(now)
        people: list[tuple[str, str, str]] = []  # ref, phone, channel
        people += [(f"T{n}", f"+1201555{n:04d}", "sms") for n in range(mix.texts)]
        for n in range(mix.families):
            shared = f"+1201556{n:04d}"
            people += [(f"F{n}a", shared, "sms"), (f"F{n}b", shared, "sms")]
        people += [(f"E{n}", f"+1201557{n:04d}", "email") for n in range(mix.emails)]
        with transaction(self.runtime.sessions) as session:
            for ref, phone, channel in people:
                patient = Patient(
                    ref=ref,
                    first_name="Pat",
                    last_name=ref,
                    phone=phone,
                    email=f"{ref.lower()}@example.com",
                    preferred_channel=channel,
                    language="en",
                    timezone=zone,
                )
                session.add(patient)
                session.flush()
                session.add(
                    Consent(
                        patient_id=patient.id,
                        channel=channel,
                        purpose=Purpose.CARE,
                        granted=True,
                        changed_at=now,
                        source="fault suite",
                        changed_by="fault suite",
                    )
                )
                episode = Episode(patient_id=patient.id, opened_at=now - timedelta(hours=1))
                session.add(episode)
                session.flush()
                visit = Visit(
                    ref=f"V{ref}",
                    patient_id=patient.id,
                    episode_id=episode.id,
                    office="hoboken",
                    clinician="Dr. Lee",
                    visited_at=now - timedelta(hours=1),
                    plan="lower-back",
                )
                session.add(visit)
                session.flush()
                session.add(
                    Message(
                        patient_id=patient.id,
                        visit_id=visit.id,
                        episode_id=episode.id,
                        step="welcome",
                        channel=channel,
                        purpose=Purpose.CARE,
                        template="welcome",
                        status=MessageStatus.SCHEDULED,
                        due_at=now - timedelta(seconds=1),
                        expires_at=now + timedelta(hours=2),
                    )
                )
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Message.id).order_by(Message.id)))

    def family_phones(self, mix: Mix) -> list[str]:
        return [f"+1201556{n:04d}" for n in range(mix.families)]

    # -- processes ----------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen[bytes]:
        with (self.workdir / f"worker-{len(self.workers)}.log").open("wb") as log:
            worker = subprocess.Popen(
                [*worker_command(), "--concurrency=2", "-n", f"fault{len(self.workers)}@%h"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        return worker

    def worker(self) -> subprocess.Popen[bytes]:
        return self.workers[-1]

    def worker_children(self) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.worker().pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def supervise(self) -> None:
        """Start the worker again if it exited, as `Restart=always` would; unsupervised,
        note the exit and leave it down (as a worker run by hand would stay)."""
        code = self.worker().poll()
        if code is None:
            return
        if not self.supervised:
            if not self.exits:
                self.exits.append(code)
            return
        self.restarts += 1
        self.start_worker()

    def scrape(self) -> None:
        """What /metrics would say now about the workers' counts."""
        registry = CollectorRegistry()
        ProcessFilesCollector(registry, path=str(self.metrics_dir))
        self.scraped = generate_latest(registry).decode()
        self.scrapes += 1

    def tick(self) -> None:
        """What beat does: a dispatch and a reconcile task, through the broker."""
        for task in ("followup.tasks.dispatch_due", "followup.tasks.reconcile"):
            try:
                self.beat.send_task(task, retry=False)
            except Exception:  # noqa: BLE001 - the broker is down: beat tries next time
                return

    def worker_log(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.workdir.glob("worker-*.log"))
        )

    # -- the run ------------------------------------------------------------------------

    def run(
        self,
        due: list[int],
        *,
        disrupt: Callable[[FaultRun], None] | None = None,
        when_sent: int = 12,
    ) -> Outcome:
        """Tick until nothing is in flight; `disrupt` once `when_sent` texts reached the peer."""
        started = time.monotonic()
        self.start_worker()
        disrupted = disrupt is None
        self.in_flight_when_disrupted: int | None = None
        drained_at: float | None = None
        while time.monotonic() - started < DRAIN_LIMIT:
            if not disrupted and len(self.peer.messages) >= when_sent:
                self.in_flight_when_disrupted = self._count(Message.status.in_(IN_FLIGHT))
                disrupt(self)  # type: ignore[misc]
                disrupted = True
            self.supervise()
            self.tick()
            self.scrape()
            time.sleep(TICK)
            if disrupted and self._drained():
                drained_at = time.monotonic() - started
                break
        self.scrape()
        return self._outcome(due, drained_at)

    def _drained(self) -> bool:
        """Nothing due, in flight or waiting for a look-up."""
        pending = Message.status.in_((MessageStatus.SCHEDULED, *IN_FLIGHT)) | (
            (Message.status == MessageStatus.UNKNOWN) & Message.settle_at.is_not(None)
        )
        return self._count(pending) == 0

    def _count(self, condition: ColumnElement[bool]) -> int:
        with self.runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(Message).where(condition)) or 0

    def _outcome(self, due: list[int], drained_at: float | None) -> Outcome:
        texts: Counter[int] = Counter()
        sids: dict[int, set[str]] = {}
        for sent in self.peer.messages:
            message_id = int(str(sent["status_callback"]).rsplit("/", 1)[1])
            texts[message_id] += 1
            sids.setdefault(message_id, set()).add(str(sent["sid"]))
        with self.runtime.sessions() as session:
            rows = session.scalars(select(Message).where(Message.id.in_(due))).all()
            shared = session.scalar(
                select(func.count()).select_from(
                    select(Message.provider_id)
                    .where(Message.provider_id.is_not(None))
                    .group_by(Message.provider_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        outcome = Outcome(
            self.scenario,
            due=len(rows),
            shared_provider_ids=shared or 0,
            faults_unused=len(self.peer.state.faults) + self.smtp.refuse,
            in_flight_when_disrupted=self.in_flight_when_disrupted,
            worker_restarts=self.restarts,
            worker_exited=bool(self.exits),
            sends_counted=counted_sends(self.scraped),
            scrapes=self.scrapes,
            drain_seconds=drained_at,
        )
        for row in rows:
            reached = texts[row.id] if row.channel == Channel.SMS else self.smtp.received[row.id]
            if reached > 1:
                outcome.duplicates += 1
                outcome.problems.append(f"#{row.id} reached the provider {reached} times")
            if row.status in REACHED:
                outcome.settled_by_look_up += "by look-up" in (row.last_error or "")
                outcome.settled_by_callback += "by Twilio's status callback" in (
                    row.last_error or ""
                )
                if reached == 0:
                    outcome.lost += 1
                    outcome.problems.append(f"#{row.id} is {row.status} but never reached it")
                elif reached == 1:
                    outcome.delivered_once += 1
                if row.channel == Channel.SMS and row.provider_id not in sids.get(row.id, set()):
                    outcome.problems.append(f"#{row.id} holds a provider id not its own")
            elif row.status == MessageStatus.UNKNOWN:
                outcome.left_unknown += 1
                if row.settle_at is not None or not row.last_error:
                    outcome.problems.append(f"#{row.id} is unknown without a reason for staff")
            elif row.status in (MessageStatus.FAILED, MessageStatus.SKIPPED):
                outcome.failed_with_reason += 1
                if not row.last_error:
                    outcome.problems.append(f"#{row.id} is {row.status} with no reason")
                if reached:
                    outcome.problems.append(f"#{row.id} is {row.status} but reached the provider")
            else:
                outcome.lost += 1
                outcome.problems.append(f"#{row.id} was left {row.status}")
        if drained_at is None:
            outcome.problems.append(f"not drained within {DRAIN_LIMIT:g} s")
        if outcome.shared_provider_ids:
            outcome.problems.append(f"{outcome.shared_provider_ids} provider ids on two rows")
        if outcome.faults_unused:
            outcome.problems.append(f"{outcome.faults_unused} programmed faults never happened")
        if self.in_flight_when_disrupted == 0:
            outcome.problems.append("nothing was in flight when the disruption hit")
        if self.exits:
            outcome.problems.append(
                f"the worker exited (status {self.exits[0]}) and nothing started it again"
            )
        reached = sum(texts.values()) + sum(self.smtp.received.values())
        if not 0 < outcome.sends_counted <= reached:
            outcome.problems.append(
                f"the metrics count {outcome.sends_counted} sends, the providers got {reached}"
            )
        return outcome


def counted_sends(scraped: str) -> int:
    """`followup_sends_total{outcome="sent"}`, all channels, from a scrape's text."""
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(scraped)
            for sample in family.samples
            if sample.name == "followup_sends_total" and sample.labels.get("outcome") == "sent"
        )
    )


def worker_command() -> list[str]:
    """The production worker's command line, from its systemd unit, run from our venv."""
    unit = (PROJECT_ROOT / "deploy" / "systemd" / "followup-worker.service").read_text()
    [line] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    program, *arguments = shlex.split(line.removeprefix("ExecStart="))
    if Path(program).name != "celery":
        raise ValueError(f"the worker unit runs {program}, not celery")
    return [str(CELERY), *arguments]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and everything it started (its children share its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
