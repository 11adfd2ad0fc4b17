"""Export throughput and memory: the patients export of N patients, streamed.

    python bench/export.py [--patients 50000]
                           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

It seeds N patients with SMS consent on PostgreSQL, then writes the patients CSV
through `followup.exports` (the query with four consent standings per patient, cells
defused, the audit entry) and, as the baseline, a bare `csv.writer` over the same query (no cell defused, no time formatted, no audit);
rows/second for both, and the peak Python memory the export allocates, alone in a
process of its own (it streams: the peak should not grow with N). Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from multiprocessing import Queue
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dispatch import DEFAULT_SERVER  # noqa: E402
from bench.seeding import analyze, fresh_schema, seed_patients  # noqa: E402
from bench.summary import summary  # noqa: E402
from followup.config import Settings  # noqa: E402
from followup.exports import lists  # noqa: E402
from followup.exports.audited import audited_export  # noqa: E402
from followup.runtime import Runtime  # noqa: E402

SCHEMA = "followup_bench_export"


def export_in_a_process(url: str, patients: int, queue: Queue[tuple[float, float, int]]) -> None:
    """The export alone in a fresh process: rows/second, CSV size, and (a second run,
    traced) the peak of Python memory it allocates while streaming."""
    runtime = Runtime(Settings(database_url=url))
    listing = lists.patients(q="", zone=ZoneInfo("America/New_York"))

    def run() -> int:
        chunks = audited_export(runtime.sessions, listing, actor="bench", address=None)
        return sum(len(chunk) for chunk in chunks)

    started = time.perf_counter()
    size = run()
    rate = patients / (time.perf_counter() - started)
    tracemalloc.start()
    run()
    queue.put((rate, tracemalloc.get_traced_memory()[1] / 1e6, size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    args = parser.parse_args()
    url = fresh_schema(args.database_url, SCHEMA)
    engine = create_engine(url)
    with engine.begin() as connection:
        seed_patients(
            connection,
            range(1, args.patients + 1),
            now=datetime.now(UTC),
            phone=lambda i: f"+1201{i:07d}",
        )
    analyze(engine)

    # The baseline: the same query (consent standings and all), its rows as they come
    # through a bare csv.writer, with no cell defused, no time formatted, no audit.
    statement = lists.patients(q="", zone=ZoneInfo("America/New_York")).statement
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(text("SET jit = off"))
        writer = csv.writer(io.StringIO())
        for row in connection.execute(statement):
            writer.writerow(row)
    bare = args.patients / (time.perf_counter() - started)

    fresh = multiprocessing.get_context("spawn")  # not a fork: none of the seeding's memory
    queue: Queue[tuple[float, float, int]] = fresh.Queue()
    child = fresh.Process(target=export_in_a_process, args=(url, args.patients, queue))
    child.start()
    ours, peak, size = queue.get()
    child.join()
    print(f"patients export: {args.patients} rows, {size / 1e6:.1f} MB of CSV")
    print(
        f"  followup.exports: {ours:.0f} rows/s; the same query, bare csv.writer: {bare:.0f} rows/s"
    )
    print(f"  peak Python memory allocated while exporting: {peak:.1f} MB")
    print(summary("patients export rate", ours, bare, "rows/s", ">= 0.5"))


if __name__ == "__main__":
    main()
