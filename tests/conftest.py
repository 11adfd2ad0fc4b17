"""Fixtures that start or connect to the real thing.

`db` runs each test on SQLite and on PostgreSQL (127.0.0.1:5432, a schema of its own
in database `test`); `redis` is database 15 of the local Redis, flushed around each
test; `twilio_server` and `smtp_server` are real servers on loopback ports.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from followup.care.patients import PatientDetails, record_consents, save_patient
from followup.config import Settings
from followup.db import transaction, upgrade_to_head
from followup.models.base import Base, Channel
from followup.models.care import Patient
from followup.models.outbox import Purpose
from followup.runtime import Runtime, use
from tests.peers.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer

POSTGRES_SERVER = os.environ.get(
    "FOLLOWUP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
POSTGRES_SCHEMA = "followup_test"
REDIS_URL = os.environ.get("FOLLOWUP_TEST_REDIS", "redis://127.0.0.1:6379/15")
VISIT = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


@contextmanager
def postgres_schema(schema: str) -> Iterator[str]:
    """The URL of a PostgreSQL schema of its own, new and migrated to head; dropped
    after."""
    admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}"
    try:
        upgrade_to_head(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_schema(POSTGRES_SCHEMA) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "followup.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("empty_postgres")


@pytest.fixture
def empty_postgres(postgres_url: str) -> str:
    """The PostgreSQL schema, every table emptied and every id restarted."""
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No send rate by default: tests/delivery/test_throttle.py tests the limit on its own.
    return Settings(
        database_url=database_url, retry_base_seconds=60, retry_max_seconds=600, sms_rate=0
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    use(rt)
    yield rt
    use(None)


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    """A session on the test database; tests commit through `runtime.sessions`."""
    with runtime.sessions() as session:
        yield session


@pytest.fixture
def redis() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def twilio_server() -> Iterator[TwilioPeer]:
    peer = TwilioPeer().start()
    yield peer
    peer.stop()


@dataclass
class SmtpRecorder:
    """Keeps every message it accepts; `reply` answers DATA with a chosen code."""

    envelopes: list[Envelope] = field(default_factory=list)
    rcpt_reply: str | None = None

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, SmtpRecorder]]:
    recorder = SmtpRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, recorder
    controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def live_settings(
    settings: Settings, twilio: TwilioPeer, smtp: Controller | None = None, **more: object
) -> Settings:
    """`settings` wired to the local Twilio-compatible server (and SMTP server)."""
    changes: dict[str, object] = {
        "sms_backend": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": "+12015550199",
        "twilio_api_base_url": twilio.base_url,
        "twilio_timeout": 5.0,
    }
    if smtp is not None:
        changes |= {"email_backend": "smtp", "smtp_host": smtp.hostname, "smtp_port": smtp.port}
    return settings.with_overrides(**(changes | more))


def add_patient(
    runtime: Runtime,
    ref: str = "P1",
    *,
    phone: str = "+12015550111",
    email: str = "pat@example.com",
    preferred: str = "sms",
    timezone: str = "America/New_York",
    language: str = "en",
    consents: dict[Channel, bool] | None = None,
) -> Patient:
    """A patient with care consent on the given channels (both by default)."""
    consents = {Channel.SMS: True, Channel.EMAIL: True} if consents is None else consents
    with transaction(runtime.sessions) as session:
        patient = save_patient(
            session,
            PatientDetails.parse(
                ref=ref,
                first_name="Pat",
                last_name="Doe",
                phone=phone,
                email=email,
                preferred_channel=preferred,
                language=language,
                timezone=timezone,
            ),
        )
        record_consents(
            session,
            patient,
            {(channel, Purpose.CARE): granted for channel, granted in consents.items()},
            source="test",
            by="test",
        )
    return patient


@pytest.fixture
def live_runtime(
    settings: Settings, twilio_server: TwilioPeer, smtp_server: tuple[Controller, SmtpRecorder]
) -> Iterator[Runtime]:
    """A runtime sending SMS to `twilio_server` and email to `smtp_server`."""
    rt = Runtime(live_settings(settings, twilio_server, smtp_server[0]))
    use(rt)
    yield rt
    use(None)


def enrol_visit(
    runtime: Runtime,
    patient: Patient | int,
    *,
    ref: str = "V1",
    at: datetime = VISIT,
    tags: str = "",
    booked: datetime | None = None,
) -> int:
    """Record a visit for `patient` on the default plan (with a next appointment if
    `booked`); returns messages added."""
    from followup.care.visits import record_visit
    from followup.models.care import Office

    with transaction(runtime.sessions) as session:
        record = record_visit(
            session,
            settings=runtime.settings,
            ref=ref,
            patient=session.get_one(Patient, patient if isinstance(patient, int) else patient.id),
            office=Office.HOBOKEN,
            clinician="Dr. Test",
            visited_at=at,
            tags=tags,
            next_appointment_at=booked,
        )
    return record.messages_added


def altered(signed: str) -> str:
    """A signed link or token with one character of its signature changed: the fifth
    from the end, whose six bits all count (the last character's lowest bits are
    base64 padding, so changing it may change nothing)."""
    at = len(signed) - 5
    return signed[:at] + ("B" if signed[at] == "A" else "A") + signed[at + 1 :]


def tick(runtime: Runtime, at: datetime) -> None:
    """One dispatch tick at `at`, in this process (the Celery path is tested apart)."""
    from followup.delivery.claims import claim_due

    dispatcher = runtime.dispatcher(lambda: at)
    for batch in claim_due(runtime.sessions, now=at, limit=1000, batch_size=100):
        dispatcher.send_batch(batch.message_ids)


PUBLIC = "https://followup.clinic.example"


@pytest.fixture
def web_runtime(
    settings: Settings, twilio_server: TwilioPeer, smtp_server: tuple[object, SmtpRecorder]
) -> Iterator[Runtime]:
    """A runtime as the web app sees it: public URL, on-call routes, live peers."""
    rt = Runtime(
        live_settings(
            settings,
            twilio_server,
            smtp_server[0],  # type: ignore[arg-type]
            public_url=PUBLIC,
            oncall_sms="+12015550900",
            oncall_emails="oncall@clinic.example",
        )
    )
    use(rt)
    yield rt
    use(None)
