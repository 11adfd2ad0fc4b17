"""A clinic of a few years, COPYed into PostgreSQL: patients, visits, messages, replies,
alerts and audit rows, with names (accents, apostrophes, hyphens, 1% Smith), phones,
refs, emails and dates of birth a search can find (each patient's `search_text` as
`followup.care.search` writes it)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from followup.care.search import fold, search_text

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
    "José",
    "Zoë",
    "Seán",
    "Ana María",
    "Renée",
    "Søren",
]
# Surnames staff meet often, with accents, apostrophes and hyphens; the rest of the
# patients get one of a few hundred made-up ones (a few hundred patients each).
REAL = [
    "Rivera",
    "Okafor",
    "Park",
    "Nguyen",
    "Li",
    "Kowalski",
    "Morales",
    "Patel",
    "García",
    "Núñez",
    "Fernández",
    "Peña",
    "Müller",
    "O'Brien",
    "D'Angelo",
    "Rivera-Núñez",
    "Smith-Jones",
    "Cohen",
    "Haddad",
    "Ørsted",
]
STEMS = ["Al", "Bar", "Cal", "Dal", "Fer", "Gal", "Har", "Kel", "Lan", "Mar", "Nor", "Pal"]
STEMS += ["Ros", "Sal", "Tor", "Val", "Wes", "Yor"]
ENDS = ["ton", "ley", "ez", "ini", "ova", "sen", "berg", "ford", "ard", "ino", "ski", "elli"]
ENDS += ["ero", "wood"]
AREAS = ("201", "973", "551")
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
    """Patient `i`'s first and last name: 1% are Smith, 20% bear one of `REAL`'s
    surnames (some 1,000 each), the rest a made-up one (some 300 each)."""
    first = FIRST[i % len(FIRST)]
    mixed = i * 7919 // 13 + i // 100  # spreads surnames over first names
    if i % 100 == 0:
        return first, "Smith"
    if i % 5 == 0:
        return first, REAL[mixed % len(REAL)]
    stem, end = divmod(mixed % (len(STEMS) * len(ENDS)), len(ENDS))
    return first, STEMS[stem] + ENDS[end]


def phone_of(i: int) -> str:
    """Three area codes, exchanges 555 and on: patient 4's is +19735550001."""
    line = i // len(AREAS)
    return f"+1{AREAS[i % len(AREAS)]}{555 + line // 10_000}{line % 10_000:04d}"


def email_of(i: int) -> str:
    first, last = name_of(i)
    return f"{fold(first)}.{fold(last)}{i}@example.com".replace("'", "").replace(" ", "")


def born_of(i: int) -> date:
    """A date of birth between 1930 and 2010 (some 3 patients share each)."""
    return date(1930, 1, 1) + timedelta(days=i * 7919 % (80 * 365))


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
            "consent_events": _copy(connection, "consent_events", _consent_events(n, now)),
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
        yield {
            "id": i,
            "ref": f"B{i}",
            "first_name": first,
            "last_name": last,
            "phone": phone_of(i),
            "email": email_of(i),
            "date_of_birth": born_of(i),
            "search_text": search_text(
                first_name=first, last_name=last, ref=f"B{i}", phone=phone_of(i), email=email_of(i)
            ),
            "preferred_channel": "sms",
            "language": "es" if i % 7 == 0 else "en",
            "timezone": "America/New_York",
            "created_at": now - timedelta(days=400),
        }


def _consents(n: int, now: datetime) -> Iterator[dict[str, Any]]:
    """Care texts for all (2% said no); campaign texts for three in four, of whom one
    in fifteen has since revoked it. The rest were never asked."""
    for i in range(1, n + 1):
        yield _consent(i, "care", i % 50 != 0, now - timedelta(days=400))
        if i % 4:
            yield _consent(i, "campaign", i % 20 != 1, now - timedelta(days=200))


def _consent(i: int, purpose: str, granted: bool, at: datetime) -> dict[str, Any]:
    return {
        "patient_id": i,
        "channel": "sms",
        "purpose": purpose,
        "granted": granted,
        "changed_at": at,
        "source": "bench",
        "changed_by": "bench",
    }


def _consent_events(n: int, now: datetime) -> Iterator[dict[str, Any]]:
    """The history behind `_consents`: a campaign "yes" before each revocation."""
    for consent in _consents(n, now):
        if consent["purpose"] == "campaign" and not consent["granted"]:
            yield _event(consent, granted=True, at=consent["changed_at"] - timedelta(days=100))
        yield _event(consent, granted=consent["granted"], at=consent["changed_at"])


def _event(consent: dict[str, Any], *, granted: bool, at: datetime) -> dict[str, Any]:
    return {
        "patient_id": consent["patient_id"],
        "channel": consent["channel"],
        "purpose": consent["purpose"],
        "granted": granted,
        "at": at,
        "source": "bench",
        "recorded_by": "bench",
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
            attempted = sent or status == "failed"
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
                "attempted_at": due if attempted else None,
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
