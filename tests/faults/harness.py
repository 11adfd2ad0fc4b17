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
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from celery import Celery
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import ColumnElement, func, select

from bench.seeding import fresh_schema
from followup.config import Settings
from followup.db import transaction
from followup.models.base import Channel
from followup.models.care import Consent, Episode, Patient, Visit
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.operations.metrics import ProcessFilesCollector
from followup.runtime import Runtime
from tests.conftest import POSTGRES_SERVER, free_port
from tests.faults.outcome import Outcome, counted_sends
from tests.faults.services import FlakySmtp, RedisServer, kill_group, worker_command
from tests.live_server import LiveServer
from tests.peers.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer
from tests.zones import daytime_zone

SCHEMA = "followup_faults"
DRAIN_LIMIT = 120.0  # seconds a run may take to settle before it counts as stuck
TICK = 0.5
IN_FLIGHT = (MessageStatus.QUEUED, MessageStatus.SENDING)


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
            kill_group(worker)
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
            outcome.count(row, reached=reached, own_provider_ids=sids.get(row.id, set()))
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
