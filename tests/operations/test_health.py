"""/livez, /readyz and `followup status`: verdicts against their bounds, 503 past
any, and no patient detail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import redis as redis_lib
from click.testing import CliRunner
from sqlalchemy import text, update
from starlette.testclient import TestClient

from followup.cli.main import main
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.operations import Tick
from followup.models.outbox import Message, MessageStatus
from followup.operations.health import readiness
from followup.operations.ticks import TICKS, record_tick
from followup.operations.workers import heartbeat
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import REDIS_URL, add_patient, enrol_visit, free_port


def verdicts(rt: Runtime) -> dict[str, bool]:
    report = readiness(settings=rt.settings, engine=rt.engine, sessions=rt.sessions, now=utcnow())
    return {verdict.check: verdict.ok for verdict in report.verdicts}


def all_ticks(rt: Runtime) -> None:
    for name in TICKS:
        record_tick(rt.sessions, name, took=0.01)


def test_livez_answers_without_looking_at_anything(variant: Callable[..., Runtime]) -> None:
    nowhere = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    broken = variant(database_url=nowhere)
    response = TestClient(create_app(broken)).get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_ready_once_every_tick_ran_recently(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    never = {c["check"] for c in body["checks"] if c["detail"] == "never ran"}
    assert never == {"dispatch tick", "reconcile tick", "escalation tick"}

    all_ticks(runtime)
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


def test_a_tick_past_its_bound_is_named(runtime: Runtime) -> None:
    all_ticks(runtime)
    late = utcnow() - timedelta(seconds=runtime.settings.ready_tick_seconds + 60)
    with transaction(runtime.sessions) as session:
        session.execute(update(Tick).where(Tick.name == "dispatch").values(ran_at=late))
    response = TestClient(create_app(runtime)).get("/readyz")
    assert response.status_code == 503
    [dispatch] = [c for c in response.json()["checks"] if c["check"] == "dispatch tick"]
    assert dispatch["ok"] is False
    assert "is beat running?" in dispatch["detail"]
    assert dispatch["seconds"] > dispatch["bound_seconds"]
    assert verdicts(runtime)["reconcile tick"] is True


def test_a_message_waiting_too_long_fails_readiness_without_saying_whose(
    runtime: Runtime,
) -> None:
    all_ticks(runtime)
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)

    def due_in(seconds: float) -> None:
        with transaction(runtime.sessions) as session:
            session.execute(
                update(Message)
                .where(Message.status == MessageStatus.SCHEDULED)
                .values(due_at=utcnow() + timedelta(seconds=seconds))
            )

    due_in(3600)
    assert verdicts(runtime)["oldest due message"] is True  # nothing is due yet
    due_in(-runtime.settings.ready_due_seconds / 2)
    assert verdicts(runtime)["oldest due message"] is True  # due, within the bound
    due_in(-runtime.settings.ready_due_seconds - 30)
    response = TestClient(create_app(runtime)).get("/readyz")
    assert response.status_code == 503
    [due] = [c for c in response.json()["checks"] if c["check"] == "oldest due message"]
    assert due["ok"] is False and due["seconds"] > runtime.settings.ready_due_seconds
    for detail in (patient.first_name, patient.last_name, patient.phone, patient.ref):
        assert str(detail) not in response.text


def test_a_schema_behind_the_newest_migration_is_not_ready(runtime: Runtime) -> None:
    all_ticks(runtime)
    with transaction(runtime.sessions) as session:
        head = session.scalar(text("SELECT version_num FROM alembic_version"))
        session.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    try:
        report = readiness(
            settings=runtime.settings,
            engine=runtime.engine,
            sessions=runtime.sessions,
            now=utcnow(),
        )
    finally:
        with transaction(runtime.sessions) as session:
            session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    [database] = [v for v in report.verdicts if v.check == "database"]
    assert not database.ok and "schema at 0008" in database.detail
    assert not report.ok


def test_redis_and_workers_are_checked_when_there_is_a_broker(
    runtime: Runtime, redis: redis_lib.Redis, variant: Callable[..., Runtime]
) -> None:
    all_ticks(runtime)
    brokered = variant(redis_url=REDIS_URL)
    assert verdicts(brokered)["redis"] is True
    assert verdicts(brokered)["workers"] is False  # nobody has written a heartbeat
    heartbeat(redis, "celery@machine-1")
    assert verdicts(brokered)["workers"] is True

    gone = variant(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = TestClient(create_app(gone)).get("/readyz")
    assert response.status_code == 503
    [broker] = [c for c in response.json()["checks"] if c["check"] == "redis"]
    assert broker == {
        "check": "redis",
        "ok": False,
        "detail": "unreachable: ConnectionError",
        "seconds": None,
        "bound_seconds": None,
    }


def test_status_prints_the_verdicts_and_fails_when_not_ready(runtime: Runtime) -> None:
    runner = CliRunner()
    env = {"FOLLOWUP_DATABASE_URL": runtime.settings.database_url}
    result = runner.invoke(main, ["status"], env=env)
    assert result.exit_code == 0, result.output  # it reports; --ready makes it a check
    assert result.output.splitlines()[0] == "not ready"
    assert "  FAIL dispatch tick: never ran" in result.output
    assert "messages: " in result.output
    assert runner.invoke(main, ["status", "--ready"], env=env).exit_code == 1
    all_ticks(runtime)
    result = runner.invoke(main, ["status", "--ready"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "ready"
    assert "  ok   database: reachable, schema at " in result.output
