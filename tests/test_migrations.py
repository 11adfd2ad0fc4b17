from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from followup.db import alembic_config, upgrade_to_head
from followup.models.base import Base
from followup.runtime import Runtime
from tests.conftest import POSTGRES_SERVER


def test_migrations_build_exactly_the_schema_the_models_describe(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS followup_migrate CASCADE"))
        connection.execute(text("CREATE SCHEMA followup_migrate"))
    yield f"{POSTGRES_SERVER}?options=-csearch_path%3Dfollowup_migrate"
    with admin.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS followup_migrate CASCADE"))
    admin.dispose()


def test_a_provider_id_shared_by_an_old_look_up_stays_only_with_its_own_send(
    empty_database: str,
) -> None:
    command.upgrade(alembic_config(empty_database), "0005")
    engine = create_engine(empty_database)
    at = "2026-11-20 15:00:00"
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO patients (id, ref, first_name, last_name, preferred_channel,"
                " language, timezone, created_at) VALUES (1, 'P1', 'Pat', 'Doe', 'sms', 'en',"
                " 'America/New_York', :at)"
            ),
            {"at": at},
        )
        for message_id, status, sid, error in [
            (1, "delivered", "SM1", None),  # recorded from its own send
            (2, "sent", "SM1", "settled by provider look-up after: provider error 503"),
            (3, "sent", "SM1", "settled by provider look-up after: provider error 500"),
            (4, "sent", "SM2", None),
            (5, "sending", None, None),
        ]:
            db.execute(
                text(
                    "INSERT INTO messages (id, patient_id, channel, purpose, template,"
                    " email_fallback, status, due_at, expires_at, attempts, provider_id,"
                    " last_error, updated_at, created_at) VALUES (:id, 1, 'sms', 'care', 't',"
                    " false, :status, :at, :at, 1, :sid, :error, :at, :at)"
                ),
                {"id": message_id, "status": status, "sid": sid, "error": error, "at": at},
            )
    upgrade_to_head(empty_database)
    with engine.connect() as db:
        found = db.execute(
            text(
                "SELECT id, status, provider_id, settle_at IS NOT NULL, lease_until IS NOT NULL"
                " FROM messages ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in found] == [
        (1, "delivered", "SM1", False, False),
        (2, "unknown", None, True, False),  # looked up again, or left for staff
        (3, "unknown", None, True, False),
        (4, "sent", "SM2", False, False),
        (5, "sending", None, False, True),  # recovered by the next tick
    ]


def test_visits_are_grouped_into_episodes_and_a_step_keeps_one_message_each(
    empty_database: str,
) -> None:
    command.upgrade(alembic_config(empty_database), "0006")
    engine = create_engine(empty_database)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO patients (id, ref, first_name, last_name, preferred_channel,"
                " language, timezone, created_at) VALUES (1, 'P1', 'Pat', 'Doe', 'sms', 'en',"
                " 'America/New_York', '2026-01-01 00:00:00')"
            )
        )
        for visit_id, at in [(1, "2026-01-05"), (2, "2026-01-12"), (3, "2026-09-01")]:
            db.execute(
                text(
                    "INSERT INTO visits (id, ref, patient_id, office, clinician, visited_at, tags,"
                    " plan) VALUES (:id, :ref, 1, 'hoboken', 'Dr. Lee', :at, '', 'lower-back')"
                ),
                {"id": visit_id, "ref": f"V{visit_id}", "at": f"{at} 15:00:00"},
            )
        for message_id, visit_id, step, status in [
            (1, 1, "welcome", "sent"),
            (2, 1, "rebook", "scheduled"),
            (3, 2, "welcome", "scheduled"),  # the second visit's welcome: not again
            (4, 2, "rebook", "scheduled"),  # the latest planned copy is kept
            (5, 3, "welcome", "scheduled"),  # 232 days later: a new episode
        ]:
            db.execute(
                text(
                    "INSERT INTO messages (id, patient_id, visit_id, step, channel, purpose,"
                    " template, email_fallback, status, due_at, expires_at, attempts,"
                    " allow_repeat, updated_at, created_at) VALUES (:id, 1, :visit, :step,"
                    " 'sms', 'care', :step, false, :status, '2026-01-05 23:00:00',"
                    " '2026-12-31 00:00:00', 0, false, '2026-01-05 00:00:00',"
                    " '2026-01-05 00:00:00')"
                ),
                {"id": message_id, "visit": visit_id, "step": step, "status": status},
            )
    upgrade_to_head(empty_database)
    with engine.connect() as db:
        visits = db.execute(text("SELECT id, episode_id FROM visits ORDER BY id")).all()
        messages = db.execute(text("SELECT id, episode_id, status FROM messages ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in visits] == [(1, 1), (2, 1), (3, 2)]
    assert [tuple(row) for row in messages] == [
        (1, 1, "sent"),
        (2, None, "cancelled"),
        (3, None, "cancelled"),
        (4, 1, "scheduled"),
        (5, 2, "scheduled"),
    ]


def test_notices_queued_before_0012_are_matched_to_their_alerts(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "0009")
    engine = create_engine(empty_database)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO patients (id, ref, first_name, last_name, preferred_channel,"
                " language, timezone, created_at) VALUES (1, 'P1', 'Pat', 'Doe', 'sms', 'en',"
                " 'America/New_York', '2026-11-20 15:00:00')"
            )
        )
        for n, at in ((1, "2026-11-20 15:00:00"), (2, "2026-11-21 09:00:00")):
            db.execute(
                text(
                    "INSERT INTO replies (id, provider_id, channel, from_address, patient_id,"
                    " body, reasons, received_at) VALUES (:n, :sid, 'sms', '+12015550111', 1,"
                    " 'numb', '', :at)"
                ),
                {"n": n, "sid": f"SM{n}", "at": at},
            )
            db.execute(
                text(
                    "INSERT INTO alerts (id, reply_id, patient_id, level, created_at,"
                    " escalation_step) VALUES (:n, :n, 1, 'emergency', :at, 0)"
                ),
                {"n": n, "at": at},
            )
        # Raised with alert 1, its escalation 15 minutes later, then raised with alert 2.
        for message_id, at in (
            (1, "2026-11-20 15:00:00"),
            (2, "2026-11-20 15:15:00"),
            (3, "2026-11-21 09:00:00"),
        ):
            db.execute(
                text(
                    "INSERT INTO messages (id, patient_id, channel, purpose, template,"
                    " email_fallback, status, due_at, expires_at, attempts, recipient,"
                    " updated_at, created_at) VALUES (:id, 1, 'sms', 'alert', 'staff/alert-sms',"
                    " false, 'sent', :at, :at, 1, '+12015550900', :at, :at)"
                ),
                {"id": message_id, "at": at},
            )
    upgrade_to_head(empty_database)
    with engine.connect() as db:
        found = db.execute(text("SELECT id, alert_id FROM messages ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in found] == [(1, 1), (2, 1), (3, 2)]


def test_campaigns_before_0016_get_slugs_and_their_text_as_english(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "0014")
    engine = create_engine(empty_database)
    with engine.begin() as db:
        for n, name, sms in (
            (1, "Weehawken 12/2026 rebook", "Hi {{ patient.first_name }}"),
            (2, "Weehawken 12-2026 rebook", "Hello"),
            (3, "2026", None),
        ):
            db.execute(
                text(
                    "INSERT INTO campaigns (id, name, channel, template, sms_text, segment,"
                    " start_at, rate, status, created_by, created_at, launch_done) VALUES"
                    " (:n, :name, 'sms', :template, :sms, '{}', '2026-11-20 15:00:00', 1,"
                    " 'draft', 'Maria', '2026-11-20 15:00:00', 0)"
                ),
                {"n": n, "name": name, "sms": sms, "template": None if sms else "keep-moving"},
            )
    upgrade_to_head(empty_database)
    with engine.connect() as db:
        found = db.execute(
            text("SELECT slug, texts, missing_text FROM campaigns ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in found] == [
        (
            "weehawken-12-2026-rebook",
            '{"en": {"email": null, "sms": "Hi {{ patient.first_name }}", "subject": null}}',
            "fallback",
        ),
        (
            "weehawken-12-2026-rebook-2",
            '{"en": {"email": null, "sms": "Hello", "subject": null}}',
            "fallback",
        ),
        ("campaign-2026", "{}", "fallback"),
    ]


def test_patients_before_0015_are_found_after_it(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "0016")  # 0015 follows 0016
    engine = create_engine(empty_database)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO patients (id, ref, first_name, last_name, phone, preferred_channel,"
                " language, timezone, created_at) VALUES (1, 'P-7', 'José', 'Núñez-Ríos',"
                " '+12015550111', 'sms', 'en', 'America/New_York', '2026-11-20 15:00:00')"
            )
        )
    command.upgrade(alembic_config(empty_database), "0015")
    with engine.connect() as db:
        found = db.scalar(text("SELECT search_text FROM patients WHERE id = 1"))
        born = db.scalar(text("SELECT date_of_birth FROM patients WHERE id = 1"))
    engine.dispose()
    assert found == " nunezrios nunez rios jose #p7 #7 ~12015550111 " and born is None


def test_a_name_of_several_words_is_found_as_one_after_0022(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "0021")
    engine = create_engine(empty_database)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO patients (id, ref, first_name, last_name, preferred_channel,"
                " language, timezone, created_at, search_text) VALUES (1, 'P-8', 'Mary Ann',"
                " 'de la Cruz', 'sms', 'en', 'America/New_York', '2026-11-20 15:00:00',"
                " ' de la cruz mary ann #p8 #8 ')"
            )
        )
    command.upgrade(alembic_config(empty_database), "0022")
    with engine.connect() as db:
        found = db.scalar(text("SELECT search_text FROM patients WHERE id = 1"))
    engine.dispose()
    assert found == " de la cruz delacruz mary ann maryann #p8 #8 "


def test_the_search_index_keeps_no_pending_list_after_0019(empty_database: str) -> None:
    """Every search would read a GIN index's pending list whole (migration 0019)."""
    if empty_database.startswith("sqlite"):
        pytest.skip("SQLite's plain index keeps no pending list")
    upgrade_to_head(empty_database)
    engine = create_engine(empty_database)
    with engine.connect() as db:
        options = db.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = 'ix_patients_search_text'")
        )
    engine.dispose()
    assert options == ["fastupdate=off"]
