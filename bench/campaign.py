"""Campaign throughput and memory: launch to N patients, send, measure each process.

    python bench/campaign.py [--patients 100000] [--small 10000] [--workers 2]
                             [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

For each size (the small one, then N) it seeds patients on PostgreSQL (a quarter of
them reached by email, the rest by SMS), then in separate processes: writes the same
rows with one bare `INSERT ... SELECT` (due times spread by `row_number()`, nothing
else: the database's own speed), empties the outbox, launches the campaign
(`followup.campaigns.launches`), and sends it with worker processes against the
Twilio-compatible server and an SMTP server, with the rate limit off. It prints the
launch rate beside the bare statement's, messages/second delivered beside the same
run's bare `twilio` client loop, and the peak memory of every process; then one
summary line per measure (ours, baseline, ratio, goal); then a campaign's estimate
beside its real drain behind a backlog (`bench/campaign_estimate.py`). Prints; asserts
nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.campaign_estimate import drain  # noqa: E402
from bench.dispatch import DEFAULT_SERVER, bare_loop, peer  # noqa: E402
from bench.seeding import analyze, fresh_schema, seed_patients, seed_visits  # noqa: E402
from bench.summary import summary  # noqa: E402
from bench.workers import send_batch, start_worker  # noqa: E402
from followup.campaigns.launches import launch  # noqa: E402
from followup.campaigns.lifecycle import create_campaign  # noqa: E402
from followup.campaigns.segments import Segment  # noqa: E402
from followup.config import Settings  # noqa: E402
from followup.db import transaction  # noqa: E402
from followup.delivery.claims import claim_due  # noqa: E402
from followup.models.care import Consent  # noqa: E402
from followup.runtime import Runtime  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.peers.twilio_server import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

SCHEMA = "followup_bench_campaign"
# The campaign's rows with nothing around them: the segment (a Hoboken visit), the
# channel each patient prefers (the bench gives everyone consent), slots by row_number().
BARE_INSERT = """
INSERT INTO messages (patient_id, campaign_id, channel, purpose, template, email_fallback,
                      status, due_at, expires_at, attempts, updated_at, created_at)
SELECT p.id, :campaign, p.preferred_channel, 'campaign', 'bare', false, 'scheduled',
       :start + row_number() OVER (ORDER BY p.id) * INTERVAL '1 microsecond',
       :start + row_number() OVER (ORDER BY p.id) * INTERVAL '1 microsecond' + INTERVAL '2 days',
       0, :start, :start
FROM patients p
WHERE EXISTS (SELECT 1 FROM visits v
              WHERE v.patient_id = p.id AND v.office = 'hoboken' AND v.cancelled_at IS NULL)
"""


class Sink:
    """An SMTP server that counts what it accepts and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument(
        "--backlog", type=int, default=800, help="overdue plan texts ahead of the estimate's run"
    )
    args = parser.parse_args()
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    print(f"campaign benchmark: PostgreSQL, {args.workers} worker processes, rate limit off\n")
    try:
        with peer(latency=0.0) as base_url:
            runs = {
                n: run(args.database_url, base_url, smtp.port, n, args.workers)
                for n in (args.small, args.patients)
            }
            bare = bare_loop(base_url, 3000, threads=1)
            print("estimate vs drain, behind a backlog, at a global limit of 100 texts/s:")
            drained = drain(
                args.database_url, base_url, patients=400, backlog=args.backlog, limit=100.0
            )
    finally:
        smtp.stop()
    print(f"bare twilio client loop, sequential: {bare:.0f} msg/s\n")
    for n, figures in runs.items():
        goal = ">= 0.50" if n == args.patients else ""
        print(summary(f"launch {n}", figures.launch, figures.bare_insert, "rows/s", goal))
    big, small = runs[args.patients], runs[args.small]
    print(
        summary(
            f"launch peak memory {args.patients} vs {args.small}",
            big.launch_mb,
            small.launch_mb,
            "MB",
            "flat",
        )
    )
    print(summary(f"send {args.patients}", big.send, bare, "msg/s", ""))
    print(drained)


@dataclass(frozen=True)
class Figures:
    bare_insert: float  # rows/s
    launch: float  # rows/s
    launch_mb: float
    send: float  # msg/s


def run(server_url: str, base_url: str, smtp_port: int, n: int, workers: int) -> Figures:
    """Seed, launch (after the bare statement) and send a campaign to `n` patients."""
    url = fresh_schema(server_url, SCHEMA)
    seed(url, n)
    settings = Settings(
        database_url=url,
        sms_backend="twilio",
        email_backend="smtp",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number="+12015550199",
        twilio_api_base_url=base_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        sms_rate=0,
        batch_size=2000,
        # The figures must not depend on the hour the benchmark runs at.
        quiet_hours_start=clock_time(0, 0),
        quiet_hours_end=clock_time(23, 59, 59),
    )
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        campaign_id = pool.apply(_create, (settings,))
        bare_seconds, bare_rows = pool.apply(_bare_insert, (url, campaign_id))
    with context.Pool(1) as pool:
        launch_seconds, launched, launch_rss = pool.apply(_launch, (settings, campaign_id))
    runtime = Runtime(settings)
    with context.Pool(workers, initializer=start_worker, initargs=(settings,)) as pool:
        pool.map(time.sleep, [0.5] * workers)  # every worker is up before the clock starts
        started = time.perf_counter()
        # As beat and Celery would: each tick claims at most the dispatch limit and hands
        # each batch to a free worker.
        results = []
        while batches := claim_due(
            runtime.sessions, now=datetime.now(UTC), limit=settings.dispatch_limit, batch_size=2000
        ):
            results += pool.map(send_batch, [b.message_ids for b in batches], chunksize=1)
        elapsed = time.perf_counter() - started
        peaks = pool.map(_peak, range(workers), chunksize=1)
    runtime.close()
    sent = sum(results)
    print(
        f"{n} patients: bare INSERT ... SELECT wrote {bare_rows} rows in {bare_seconds:.2f} s "
        f"({bare_rows / bare_seconds:.0f} rows/s)"
    )
    print(
        f"  launched {launched} messages in {launch_seconds:.2f} s "
        f"({launched / launch_seconds:.0f} rows/s), peak memory {launch_rss:.0f} MB"
    )
    print(
        f"  sent {sent} in {elapsed:.1f} s: {sent / elapsed:.0f} msg/s; worker peak memory "
        + ", ".join(f"{rss:.0f} MB" for rss in peaks)
        + f"; this process {_peak_mb():.0f} MB\n"
    )
    return Figures(
        bare_insert=bare_rows / bare_seconds,
        launch=launched / launch_seconds,
        launch_mb=launch_rss,
        send=sent / elapsed,
    )


def seed(url: str, n: int) -> None:
    engine = create_engine(url)
    for start in range(1, n + 1, 10_000):
        _seed_chunk(engine, range(start, min(start + 10_000, n + 1)))
    analyze(engine)  # both statements are planned on statistics, as in service
    engine.dispose()


def _seed_chunk(engine: Engine, ids: range) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        seed_patients(connection, ids, now=now, phone=lambda i: f"+1201{i:07d}")
        # A quarter prefer email: the campaign goes out on both channels.
        connection.execute(
            text(
                "UPDATE patients SET email = 'p' || id || '@example.com', preferred_channel = 'email' "
                "WHERE id % 4 = 0"
            )
        )
        for channel in ("sms", "email"):
            connection.execute(
                insert(Consent),
                [
                    {
                        "patient_id": i,
                        "channel": channel,
                        "purpose": "campaign",
                        "granted": True,
                        "changed_at": now,
                        "source": "bench",
                        "changed_by": "bench",
                    }
                    for i in ids
                ],
            )
        seed_visits(connection, ids, visited_at=now)


def _create(settings: Settings) -> int:
    runtime = Runtime(settings)
    with transaction(runtime.sessions) as session:
        campaign = create_campaign(
            session,
            settings=settings,
            renderer=runtime.renderer,
            name="bench",
            channel="preferred",
            segment=Segment.parse(offices=["Hoboken"]),
            by="bench",
            rate=1_000_000.0,
            sms_text="Hi {{ patient.first_name }}, our Hoboken office is open on Saturdays.",
            email_subject="News from {{ clinic.name }}",
            email_text="Hi {{ patient.first_name }},\n\nOur Hoboken office is open on Saturdays.",
        )
        campaign_id = campaign.id
    runtime.close()
    return campaign_id


def _bare_insert(url: str, campaign_id: int) -> tuple[float, int]:
    """The bare statement's time and rows; the outbox is emptied again after it."""
    engine = create_engine(url)
    with engine.begin() as connection:
        started = time.perf_counter()
        written = connection.execute(
            text(BARE_INSERT), {"campaign": campaign_id, "start": datetime.now(UTC)}
        ).rowcount
        elapsed = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE messages CASCADE"))
    engine.dispose()
    return elapsed, written


def _launch(settings: Settings, campaign_id: int) -> tuple[float, int, float]:
    runtime = Runtime(settings)
    started = time.perf_counter()
    written = launch(runtime.sessions, campaign_id, settings=settings, by="bench")
    elapsed = time.perf_counter() - started
    runtime.close()
    return elapsed, written, _peak_mb()


def _peak(_: int) -> float:
    time.sleep(0.2)  # let every worker take one
    return _peak_mb()


def _peak_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that across
    exec, so a spawned worker would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
