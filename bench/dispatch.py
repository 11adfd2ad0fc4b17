"""Dispatch throughput: our whole send path against a bare loop of the Twilio client.

    python bench/dispatch.py [--messages 10000]
                             [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Seeds N due SMS on PostgreSQL, then runs claim -> render -> send -> record through
`followup.delivery.dispatch` against the Twilio-compatible server (its own process), and in
the same run times bare `client.messages.create` loops against the same server.

Two scenarios:
  1. no added latency: our path at the default concurrency vs a sequential bare loop
     (the issue's 1.25x budget) and vs a bare loop with the same number of threads;
  2. 300 ms added to every provider call, at most 100 requests in flight: sustained
     messages/second (the ceiling is 100 / 0.3 s = 333/s), beside a bare loop of 100
     threads.
Prints figures, then one summary line per measure (ours, baseline, ratio, goal);
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seeding import analyze, fresh_schema, seed_patients, seed_visits  # noqa: E402
from bench.summary import summary  # noqa: E402
from bench.workers import send_batch, start_worker  # noqa: E402
from followup.config import Settings  # noqa: E402
from followup.delivery.channels.sms import BaseUrlHttpClient  # noqa: E402
from followup.delivery.claims import claim_due  # noqa: E402
from followup.models.base import Base  # noqa: E402
from followup.models.outbox import Message  # noqa: E402
from followup.runtime import Runtime  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.peers.twilio_server import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "followup_bench"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--concurrency", type=int, default=Settings().sms_concurrency)
    args = parser.parse_args()
    url = fresh_schema(args.database_url, SCHEMA)
    n = args.messages

    print(f"dispatch benchmark: {n} messages, PostgreSQL, Twilio-compatible server on loopback\n")
    with peer(latency=0.0) as base_url:
        ours = run_our_path(url, base_url, n, concurrency=args.concurrency)
        ours_two = run_our_path(url, base_url, n, concurrency=args.concurrency, processes=2)
        bare = bare_loop(base_url, n, threads=1)
        bare_threads = bare_loop(base_url, n, threads=args.concurrency)
    print("1. no added latency (cost ratio = bare rate / our rate)")
    print(f"   bare loop, sequential:           {bare:8.0f} msg/s")
    print(f"   bare loop, {args.concurrency} threads:            {bare_threads:8.0f} msg/s")
    print(f"   our path, 1 worker process:      {ours:8.0f} msg/s   cost ratio {bare / ours:.2f}x")
    print(
        f"   our path, 2 worker processes:    {ours_two:8.0f} msg/s   "
        f"cost ratio {bare / ours_two:.2f}x\n"
    )

    with peer(latency=0.3) as base_url:
        slow = run_our_path(url, base_url, n, concurrency=100)
        peak = peer_stats(base_url)["peak_in_flight"]
        slow_bare = bare_loop(base_url, min(n, 3000), threads=100)
    print("2. 300 ms provider latency, at most 100 requests in flight")
    print(
        f"   our path:                   {slow:8.0f} msg/s   (peak in flight at the server: {peak})"
    )
    print(f"   bare loop, 100 threads:     {slow_bare:8.0f} msg/s   (ceiling 333 msg/s)\n")
    # A cost of at most 1.25x the bare loop is a rate of at least 1 / 1.25 = 0.80 of it.
    print(summary("dispatch, 1 process, no latency", ours, bare, "msg/s", ">= 0.80"))
    print(summary("dispatch, 2 processes, no latency", ours_two, bare, "msg/s", ""))
    print(summary("dispatch, 300 ms, 100 in flight", slow, slow_bare, "msg/s", ">= 0.95"))


def seed(url: str, n: int, now: datetime) -> None:
    """N patients with SMS consent, a visit each, and one due SMS each."""
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        ids = range(1, n + 1)
        seed_patients(connection, ids, now=now, phone=lambda i: f"+1201{i:07d}")
        seed_visits(connection, ids, visited_at=now - timedelta(days=2))
        connection.execute(
            insert(Message),
            [
                {
                    "patient_id": i,
                    "visit_id": i,
                    "step": "keep-moving",
                    "channel": "sms",
                    "purpose": "care",
                    "template": "keep-moving",
                    "email_fallback": False,
                    "status": "scheduled",
                    "due_at": now - timedelta(minutes=1),
                    "expires_at": now + timedelta(days=1),
                    "attempts": 0,
                    "updated_at": now,
                    "created_at": now,
                }
                for i in ids
            ],
        )
    analyze(engine)
    engine.dispose()


def peer_settings(url: str, base_url: str, **values: Any) -> Settings:
    """Settings that text through the Twilio-compatible server at `base_url`, at any
    hour (the figures must not depend on the hour the benchmark runs at)."""
    return Settings(
        database_url=url,
        sms_backend="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number="+12015550199",
        twilio_api_base_url=base_url,
        quiet_hours_start=clock_time(0, 0),
        quiet_hours_end=clock_time(23, 59, 59),
        **values,
    )


def run_our_path(url: str, base_url: str, n: int, *, concurrency: int, processes: int = 1) -> float:
    """Messages/second from the first claim to the last record.

    With `processes` > 1 the claimed batches are shared by that many worker processes,
    as `celery worker -c N` shares send tasks (each with its own `concurrency`).
    """
    now = datetime.now(UTC)
    seed(url, n, now)
    settings = peer_settings(
        url,
        base_url,
        sms_concurrency=concurrency,
        batch_size=min(2000, -(-n // processes)),
        dispatch_limit=n,
        sms_rate=0,  # measured without the carrier's rate limit
    )
    runtime = Runtime(settings)
    if processes == 1:
        dispatcher = runtime.dispatcher()
        started = time.perf_counter()
        batches = claim_due(runtime.sessions, now=now, limit=n, batch_size=settings.batch_size)
        sent = sum(dispatcher.send_batch(batch.message_ids).sent for batch in batches)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes, initializer=start_worker, initargs=(settings,)) as pool:
            pool.map(time.sleep, [0.5] * processes)  # every worker is up before the clock starts
            started = time.perf_counter()
            batches = claim_due(runtime.sessions, now=now, limit=n, batch_size=settings.batch_size)
            sent = sum(pool.map(send_batch, [batch.message_ids for batch in batches], chunksize=1))
    elapsed = time.perf_counter() - started
    runtime.close()
    if sent != n:
        raise SystemExit(f"only {sent} of {n} messages were sent")
    return n / elapsed


def bare_loop(base_url: str, n: int, *, threads: int) -> float:
    """`messages.create` calls with nothing around them; one client per thread."""
    from twilio.rest import Client

    def work(count: int) -> None:
        client = Client(
            ACCOUNT_SID, AUTH_TOKEN, http_client=BaseUrlHttpClient(base_url, timeout=10)
        )
        for i in range(count):
            client.messages.create(to=f"+1202{i:07d}", from_="+12015550199", body="x" * 180)

    shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, shares))
    return n / (time.perf_counter() - started)


class peer:  # noqa: N801 - used as a context manager
    """The Twilio-compatible server in its own process, so it does not share our GIL."""

    def __init__(self, *, latency: float) -> None:
        self.latency = latency

    def __enter__(self) -> str:
        port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.peers.twilio_server",
                "--port",
                str(port),
                "--latency",
                str(self.latency),
            ],
            cwd=ROOT,
        )
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                peer_stats(base_url)
                return base_url
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the Twilio-compatible server did not start")

    def __exit__(self, *_: object) -> None:
        self.process.kill()
        self.process.wait(10)


def peer_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/_peer/stats", timeout=2) as response:
        return dict(json.load(response))


if __name__ == "__main__":
    main()
