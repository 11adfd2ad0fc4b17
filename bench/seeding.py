"""What both benchmarks need: a fresh PostgreSQL schema and patients with SMS consent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, create_engine, insert, text

from followup.db import upgrade_to_head
from followup.models.care import Consent, Episode, Patient, Visit


def fresh_schema(server_url: str, schema: str) -> str:
    """Drop and recreate `schema`, migrate it, and return a URL that uses it."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = f"{server_url}?options=-csearch_path%3D{schema}"
    upgrade_to_head(url)
    return url


def seed_patients(
    connection: Connection, ids: range, *, now: datetime, phone: Callable[[int], str]
) -> None:
    """Patients `ids` (ref B<id>) with care SMS consent."""
    connection.execute(
        insert(Patient),
        [
            {
                "id": i,
                "ref": f"B{i}",
                "first_name": "Pat",
                "last_name": f"Bench{i}",
                "phone": phone(i),
                "email": None,
                "preferred_channel": "sms",
                "language": "en",
                "timezone": "America/New_York",
                "created_at": now,
            }
            for i in ids
        ],
    )
    connection.execute(
        insert(Consent),
        [
            {
                "patient_id": i,
                "channel": "sms",
                "purpose": "care",
                "granted": True,
                "changed_at": now,
                "source": "bench",
                "changed_by": "bench",
            }
            for i in ids
        ],
    )


def analyze(engine: Engine) -> None:
    """Statistics on what was just seeded, as a database in service has: without them
    PostgreSQL plans a freshly filled table as empty (the claim of a few thousand rows
    then joins them quadratically), and on PostgreSQL the visibility map autovacuum
    keeps (without it an index-only scan still reads every row's page). On PostgreSQL a
    checkpoint then writes the seeded pages out, which would else be written while the
    bench times its requests."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name != "postgresql":
            connection.execute(text("ANALYZE"))
            return
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))


def seed_visits(connection: Connection, ids: range, *, visited_at: datetime) -> None:
    """One Hoboken visit (visit id = patient id), each opening its patient's episode."""
    connection.execute(
        insert(Episode), [{"id": i, "patient_id": i, "opened_at": visited_at} for i in ids]
    )
    connection.execute(
        insert(Visit),
        [
            {
                "id": i,
                "ref": f"BV{i}",
                "patient_id": i,
                "episode_id": i,
                "office": "hoboken",
                "clinician": "Dr. Bench",
                "visited_at": visited_at,
                "tags": "lower-back",
                "plan": "lower-back",
            }
            for i in ids
        ],
    )
