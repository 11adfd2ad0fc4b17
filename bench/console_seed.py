"""A clinic of a few years, COPYed into PostgreSQL: patients, visits, messages, replies,
alerts and audit rows, with names, phones, refs and emails a search can find."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from followup.care.search import search_text

FIRST = [
    "Ana",
    "Ben",
    "Cleo",
    "Dan",
    "Eve",
    "Fay",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kai",
    "Lucía",
    "Mateo",
    "Nia",
    "Omar",
    "Pat",
    "Quinn",
]
LAST = [
    "Rivera",
    "Okafor",
    "Park",
    "Nguyen",
    "Li",
    "Kowalski",
    "Morales",
    "Smith",
    "Patel",
    "Garcia",
    "Cohen",
    "Rossi",
    "Kim",
    "Haddad",
    "Murphy",
    "Santos",
    "Ito",
    "Brown",
    "Müller",
    "O'Brien",
    "Diaz",
    "Singh",
    "Lopez",
    "Chen",
    "Walker",
    "Reyes",
    "Bauer",
]
STATUSES = ("sent",) * 6 + ("delivered",) * 2 + ("skipped", "scheduled", "failed", "cancelled")


@dataclass(frozen=True)
class Scale:
    patients: int
    visits_each: int = 3
    messages_each: int = 10  # per patient: their episode's series
    replies: int = 0
    audit: int = 0

    @classmethod
    def of(cls, factor: float) -> Scale:
        patients = max(100, int(100_000 * factor))
        return cls(patients=patients, replies=patients, audit=patients)


def name_of(i: int) -> tuple[str, str]:
    """Patient `i`'s first and last name (Last names repeat: a search finds many)."""
    return FIRST[i % len(FIRST)], f"{LAST[(i // len(FIRST)) % len(LAST)]}{i // 600 or ''}"


def phone_of(i: int) -> str:
    return f"+1{201 + i % 3}555{i % 10_000:04d}" if i < 30_000 else f"+1973{i:07d}"


def email_of(i: int) -> str:
    first, last = name_of(i)
    return f"{first}.{last}{i}@example.com".lower().replace("'", "")


def seed(dsn: str, scale: Scale, now: datetime) -> dict[str, int]:
    """COPY every table; returns the rows written per table."""
    rng = random.Random(22)
    n = scale.patients
    visits = n * scale.visits_each
    messages = n * scale.messages_each
    with psycopg.connect(dsn) as connection:
        written = {
            "patients": _copy(connection, "patients", _patients(n, now)),
            "consents": _copy(connection, "consents", _consents(n, now)),
            "episodes": _copy(connection, "episodes", _episodes(n, now)),
            "visits": _copy(connection, "visits", _visits(n, scale.visits_each, now)),
            "messages": _copy(connection, "messages", _messages(n, scale, now, rng)),
            "replies": _copy(connection, "replies", _replies(scale, visits, messages, now, rng)),
            "alerts": _copy(connection, "alerts", _alerts(scale.replies, now)),
            "audit_log": _copy(connection, "audit_log", _audit(scale, now)),
        }
        for table in written:
            if table != "consents":
                connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    return written


def _copy(connection: psycopg.Connection[Any], table: str, rows: Iterator[dict[str, Any]]) -> int:
    first = next(rows)
    columns = list(first)
    count = 0
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in _chain(first, rows):
            copy.write_row([row[c] for c in columns])
            count += 1
    return count


def _chain(first: dict[str, Any], rest: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _patients(n: int, now: datetime) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        first, last = name_of(i)
        phone, email = phone_of(i), email_of(i)
        yield {
            "id": i,
            "ref": f"B{i}",
            "first_name": first,
            "last_name": last,
            "phone": phone,
            "email": email,
            "search_text": search_text(
                first_name=first, last_name=last, ref=f"B{i}", phone=phone, email=email
            ),
            "preferred_channel": "sms",
            "language": "es" if i % 7 == 0 else "en",
            "timezone": "America/New_York",
            "created_at": now - timedelta(days=400),
        }


def _consents(n: int, now: datetime) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {
            "patient_id": i,
            "channel": "sms",
            "purpose": "care",
            "granted": i % 50 != 0,
            "changed_at": now - timedelta(days=400),
            "source": "bench",
            "changed_by": "bench",
        }


def _visited(i: int, k: int, now: datetime) -> datetime:
    """Patient i's k-th visit: a week apart, the patients spread over 400 days."""
    return now - timedelta(days=400 * i / 100_000 % 400, hours=(2 - k) * 24 * 7)


def _episodes(n: int, now: datetime) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {"id": i, "patient_id": i, "opened_at": _visited(i, 0, now)}


def _visits(n: int, each: int, now: datetime) -> Iterator[dict[str, Any]]:
    offices = ("hoboken", "jersey-city", "weehawken")
    for i in range(1, n + 1):
        for k in range(each):
            yield {
                "id": (i - 1) * each + k + 1,
                "ref": f"BV{i}-{k}",
                "patient_id": i,
                "episode_id": i,
                "office": offices[i % 3],
                "clinician": "Dr. Bench",
                "visited_at": _visited(i, k, now),
                "tags": "lower-back",
                "plan": "lower-back",
            }


def _messages(n: int, scale: Scale, now: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        last_visit = i * scale.visits_each
        for step in range(scale.messages_each):
            due = _visited(i, 2, now) + timedelta(days=step * 4)
            status = "scheduled" if due > now else rng.choice(STATUSES)
            sent = status in {"sent", "delivered"}
            yield {
                "id": (i - 1) * scale.messages_each + step + 1,
                "patient_id": i,
                "visit_id": last_visit,
                "episode_id": i,
                "step": f"step-{step}",
                "channel": "sms",
                "purpose": "care",
                "template": "keep-moving",
                "email_fallback": False,
                "status": status,
                "due_at": due,
                "expires_at": due + timedelta(hours=24),
                "attempts": 1 if sent else 0,
                "recipient": phone_of(i) if sent else None,
                "body": "Keep moving: a short walk today helps your back. Reply STOP to opt out."
                if sent
                else None,
                "allow_repeat": False,
                "ignore_quiet_hours": False,
                "sent_at": due if sent else None,
                "updated_at": due,
                "created_at": due - timedelta(days=step * 4),
            }


def _triage(i: int) -> str:
    return "emergency" if i % 97 == 0 else "attention" if i % 31 == 0 else "routine"


def _replies(
    scale: Scale, visits: int, messages: int, now: datetime, rng: random.Random
) -> Iterator[dict[str, Any]]:
    for i in range(1, scale.replies + 1):
        patient = rng.randint(1, scale.patients)
        received = now - timedelta(minutes=(scale.replies - i) * 5)
        handled = i <= scale.replies - 200  # the newest 200 still wait in the inbox
        yield {
            "id": i,
            "provider_id": f"SMbench{i}",
            "channel": "sms",
            "from_address": phone_of(patient),
            "patient_id": patient,
            "message_id": (patient - 1) * scale.messages_each + 1,
            "visit_id": patient * scale.visits_each,
            "body": f"pain is {i % 10}, walking more",
            "pain": i % 10,
            "triage": _triage(i),
            "reasons": "",
            "readers": "",
            "received_at": received,
            "handled_at": received + timedelta(hours=2) if handled else None,
            "handled_by": "maria" if handled else None,
        }


def _alerts(replies: int, now: datetime) -> Iterator[dict[str, Any]]:
    alert = 0
    for i in range(1, replies + 1):
        triage = _triage(i)
        if triage == "routine":
            continue
        alert += 1
        created = now - timedelta(minutes=(replies - i) * 5)
        open_ = i > replies - 3000
        yield {
            "id": alert,
            "reply_id": i,
            "patient_id": None,
            "level": triage,
            "created_at": created,
            "notified_at": created,
            "escalation_step": 0,
            "escalate_at": None,
            "acknowledged_at": None if open_ else created + timedelta(minutes=20),
            "acknowledged_by": None if open_ else "lee",
        }


def _audit(scale: Scale, now: datetime) -> Iterator[dict[str, Any]]:
    for i in range(1, scale.audit + 1):
        yield {
            "id": i,
            "at": now - timedelta(minutes=(scale.audit - i) * 3),
            "actor": "maria",
            "action": "view-patient",
            "address": "127.0.0.1",
            "patient_id": 1 + i % scale.patients,
            "detail": "",
        }
