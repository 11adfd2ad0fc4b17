"""Finding patients and paging the inbox at a clinic's size, on PostgreSQL.

    python bench/search.py [--patients 5000] [--replies 1500] [--rounds 20]
                           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Seeds patients (names from many families, accents included, each with its folded
search text) and replies in a schema of its own, then times, per query as the front
desk types it, the console's search (`followup.care.search` and a page of
`followup.console.paging`, count included) beside the old search (a prefix of the first
or last name, 50 rows, no count: less work, and finding less); and the inbox's last
page reached by keyset beside the same page by OFFSET. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import create_engine, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bench.seeding import fresh_schema
from bench.summary import summary
from followup.care.search import matching, search_text
from followup.console.finding import FOUND
from followup.console.inbox import REPLIES
from followup.models.care import Patient
from followup.models.replies import Reply
from followup.replies.inbox import InboxFilter, inbox

FIRST = ["Ana", "José", "Lucía", "Sofia", "John", "Mary Jo", "Seán", "Jürgen", "Søren", "Zoë"]
LAST = ["Rivera", "García", "Smith", "Müller", "O'Brien", "Rivera-Núñez", "Ørsted", "Nguyen"]
QUERIES = ["Ana Rivera", "Rivera, Ana", "riv ana", "jose garcia", "muller", "smith sofia",
           "(201) 555-0123", "p-100", "03/14/1962"]  # fmt: skip
SECRET = "bench secret, not for production use"


def seed(sessions: sessionmaker[Session], patients: int, replies: int) -> None:
    now = datetime.now(UTC)
    rows = []
    for n in range(patients):
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
        ref, phone = f"P-{n + 1000}", f"+1201555{n % 10000:04d}"
        rows.append(
            {
                "id": n + 1,
                "ref": ref,
                "first_name": first,
                "last_name": last if n % 7 else f"{last}{n}",
                "phone": phone,
                "timezone": "America/New_York",
                "search_text": search_text(first_name=first, last_name=last, ref=ref, phone=phone),
                "created_at": now,
            }
        )
    with sessions.begin() as session:
        session.execute(insert(Patient), rows)
        session.execute(
            insert(Reply),
            [
                {
                    "provider_id": f"SM{n}",
                    "channel": "sms",
                    "from_address": "+12015550000",
                    "patient_id": 1 + n % patients,
                    "body": "fine",
                    "received_at": now - timedelta(minutes=n // 3),
                }
                for n in range(replies)
            ],
        )


def per_second(rounds: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        work()
    return rounds / (time.perf_counter() - started)


def old_search(session: Session, words: str) -> list[Patient]:
    prefix = words + "%"
    return list(
        session.scalars(
            select(Patient)
            .where(or_(Patient.last_name.ilike(prefix), Patient.first_name.ilike(prefix)))
            .order_by(Patient.last_name, Patient.first_name)
            .limit(50)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--replies", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    engine = create_engine(fresh_schema(args.database_url, "bench_search"))
    sessions = sessionmaker(engine)
    seed(sessions, args.patients, args.replies)
    ours_total = old_total = 0.0
    with sessions() as session:
        for words in QUERIES:
            query = matching(words, today=datetime.now(UTC).date())
            if query is None:
                continue
            page = FOUND.page(session, query, cursor="", secret=SECRET)
            ours = per_second(
                args.rounds, partial(FOUND.page, session, query, cursor="", secret=SECRET)
            )
            old = per_second(args.rounds, partial(old_search, session, words))
            found_before = len(old_search(session, words))
            print(
                f"{words!r}: {page.total} found ({found_before} before), "
                f"{ours:.0f}/s (old search {old:.0f}/s)"
            )
            ours_total += ours
            old_total += old
        count = len(QUERIES)
        print(summary("patient search", ours_total / count, old_total / count, "q/s", ""))
        cursor = ""
        while True:  # to the last page, as a member clicking Next would
            page = REPLIES.page(session, inbox(InboxFilter()), cursor=cursor, secret=SECRET)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        keyset = per_second(
            args.rounds,
            lambda: REPLIES.page(session, inbox(InboxFilter()), cursor=cursor, secret=SECRET),
        )
        offset = page.start - 1
        ordered = inbox(InboxFilter()).order_by(Reply.received_at.desc(), Reply.id.desc())
        by_offset = per_second(
            args.rounds, lambda: session.execute(ordered.offset(offset).limit(50)).all()
        )
        print(summary("inbox last page", keyset, by_offset, "pages/s", "near 1: count included"))


if __name__ == "__main__":
    main()
