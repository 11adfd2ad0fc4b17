"""The console at a clinic's scale, and the visits import against a bare COPY.

    python bench/console.py [--scale 1.0] [--requests 20] [--import-rows 2000]
                            [--server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                            [--database bench_console] [--searches-only] [--keep]
                            [--import-only] [--sqlite]

Creates database `bench_console` (dropped at the end), COPYs 100,000 patients, 300,000
visits, 1,000,000 messages, 100,000 replies (with their alerts) and 100,000 audit rows
into it (times `--scale`), serves the real app under uvicorn in a process of its own,
takes the outcomes snapshot beat takes every 15 minutes (its time printed), signs a
staff member in (password and second factor), and prints p50/p95 over HTTP of
every console page and of patient searches (names, "Last, First", phones in several
forms, ref prefixes, emails, dates of birth), each with its hits. Then imports a visits
CSV through `followup import`'s code and COPYs the same file into a scratch table, and
prints both rates.
Goals, printed and not asserted: every page p95 <= 200 ms, search p95 <= 100 ms,
import >= 0.3 of the bare COPY. A full-scale run takes some minutes; seeding alone
about a minute (printed). `--searches-only` times the searches alone; `--import-only`
the import alone (no pages); `--sqlite` times the import on a fresh SQLite file instead
(patients imported first; no COPY to compare with there, the rate alone is printed);
`--keep` leaves the database for EXPLAIN ANALYZE.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import pyotp
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.console_seed import FIRST, Scale, born_of, email_of, phone_of, seed  # noqa: E402
from bench.seeding import analyze  # noqa: E402
from bench.summary import summary  # noqa: E402
from followup.campaigns.lifecycle import create_campaign  # noqa: E402
from followup.campaigns.segments import Segment  # noqa: E402
from followup.care.imports import import_csv  # noqa: E402
from followup.care.outcome_snapshot import REFRESH_EVERY, take_snapshot  # noqa: E402
from followup.care.search import matching  # noqa: E402
from followup.config import Settings  # noqa: E402
from followup.db import transaction, upgrade_to_head  # noqa: E402
from followup.models.staff import Role  # noqa: E402
from followup.runtime import Runtime  # noqa: E402
from followup.staff.accounts import set_password  # noqa: E402
from followup.staff.members import add_staff  # noqa: E402
from tests.conftest import free_port  # noqa: E402

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE = "bench_console"
BROKER = "redis://127.0.0.1:6379/13"  # the served app's, for its rate limits and health
PASSWORD = "correct horse battery"
SECRET = pyotp.random_base32()
PAGE_GOAL_MS, SEARCH_GOAL_MS, IMPORT_GOAL = 200.0, 100.0, 0.3
SLOW_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 100,000 patients")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per URL")
    parser.add_argument("--import-rows", type=int, default=2000)
    parser.add_argument("--server-url", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--database", default=DATABASE, help="created and dropped by the run")
    parser.add_argument(
        "--searches-only", action="store_true", help="time the searches alone (no pages, import)"
    )
    parser.add_argument("--import-only", action="store_true", help="no pages, no searches")
    parser.add_argument("--sqlite", action="store_true", help="the import on SQLite, alone")
    parser.add_argument("--keep", action="store_true", help="leave the database at the end")
    args = parser.parse_args()
    if args.sqlite:
        _sqlite_import(args.import_rows)
        return
    database = args.database
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        parser.error("--database: lower-case letters, digits and underscores")
    url = str(make_url(args.server_url).set(database=database))
    admin = create_engine(args.server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {database}"))
    try:
        run(
            url,
            Scale.of(args.scale),
            args.requests,
            args.import_rows,
            searches_only=args.searches_only,
            import_only=args.import_only,
        )
    finally:
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()


def run(
    url: str,
    scale: Scale,
    requests_per_url: int,
    import_rows: int,
    *,
    searches_only: bool,
    import_only: bool,
) -> None:
    upgrade_to_head(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    written = seed(_dsn(url), scale, now)
    port = free_port()
    settings = Settings(database_url=url, public_url=f"http://127.0.0.1:{port}")
    runtime = Runtime(settings)
    campaign = "" if import_only else _staff_and_campaign(runtime)
    analyze(runtime.engine)
    print(
        f"seeded in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{rows:,} {table}" for table, rows in written.items()),
        flush=True,
    )
    if not import_only:
        took = []
        for _ in range(2):  # the first snapshot, then the next with nothing changed
            started = time.perf_counter()
            with transaction(runtime.sessions) as session:
                episodes = take_snapshot(session)
            took.append(time.perf_counter() - started)
        print(
            f"outcomes snapshot (beat's, every {REFRESH_EVERY.seconds // 60} min) of "
            f"{episodes:,} episodes: the first in {took[0]:.1f} s, the next (nothing "
            f"changed) in {took[1]:.1f} s",
            flush=True,
        )
        # Its table vacuumed, as autovacuum would have long before anyone reads pages:
        # else the vacuum of 100,000 new rows runs while the pages are timed.
        analyze(runtime.engine)
    if import_only:
        ours, bare = _import_rates(runtime, scale.patients, import_rows, now)
        runtime.close()
        _report_import(ours, bare, import_rows)
        return
    queries = _searches(scale.patients)
    hits = _hits(runtime, queries)
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port))
    server.start()
    pages: dict[str, list[float]] = {}
    try:
        client = _signed_in(settings.public_url)
        if not searches_only:
            pages = _time_urls(
                client,
                settings.public_url,
                _pages(campaign, min(4242, scale.patients)),
                requests_per_url,
            )
        searches = _time_urls(client, settings.public_url, queries, requests_per_url)
    finally:
        server.terminate()
        server.join(10)
    imported = None
    if not searches_only:
        imported = _import_rates(runtime, scale.patients, import_rows, now)
    runtime.close()
    _report(pages, searches, hits, imported, import_rows)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _staff_and_campaign(runtime: Runtime) -> str:
    """An admin with a second factor (every page is theirs to see), and a draft."""
    with transaction(runtime.sessions) as session:
        member = add_staff(session, name="ana", role=Role.ADMIN)
        set_password(member, PASSWORD)
        member.totp_secret = SECRET
        create_campaign(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            name="saturday-hours",
            channel="sms",
            segment=Segment.parse(offices=["Hoboken"]),
            by="ana",
            rate=1.0,
            sms_text="Hi {{ patient.first_name }}, our Hoboken office is open on Saturdays.",
        )
    with runtime.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE alerts SET patient_id = replies.patient_id FROM replies"
                " WHERE replies.id = alerts.reply_id"
            )
        )
    return "saturday-hours"


def _serve(url: str, port: int) -> None:
    """The app as `followup serve` runs it (`followup.web.main`, its heap frozen for the
    collector), with a broker named, as in production: so no periodic work in-process."""
    import os

    import uvicorn

    os.environ.update(
        FOLLOWUP_DATABASE_URL=url,
        FOLLOWUP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        FOLLOWUP_REDIS_URL=BROKER,
    )
    uvicorn.run("followup.web.main:app", host="127.0.0.1", port=port, log_level="warning")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    if not found:
        raise SystemExit("no CSRF field on the sign-in page")
    return found.group(1)


def _signed_in(base: str) -> requests.Session:
    client = requests.Session()
    deadline = time.monotonic() + 30
    while True:
        try:
            form = client.get(f"{base}/console/login", timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    data = {"name": "ana", "password": PASSWORD, "csrf": _csrf(form.text)}
    client.post(f"{base}/console/login", data=data, timeout=10)
    code_form = client.get(f"{base}/console/login/code", timeout=10)
    data = {"csrf": _csrf(code_form.text), "code": pyotp.TOTP(SECRET).now()}
    done = client.post(f"{base}/console/login/code", data=data, timeout=10)
    if not done.url.endswith("/console/"):
        raise SystemExit(f"sign-in did not reach the console: {done.url}")
    return client


def _pages(campaign: str, patient: int) -> dict[str, str]:
    return {
        "alerts (home)": "/console/",
        "alerts": "/console/alerts",
        "closed alerts": "/console/alerts/closed",
        "an alert": "/console/alerts/1",
        "inbox": "/console/inbox",
        "patients search form": "/console/patients",
        "a patient": f"/console/patients/B{patient}",
        "a conversation": f"/console/patients/B{patient}/conversation",
        "campaigns": "/console/campaigns",
        "a campaign preview": f"/console/campaigns/{campaign}",
        "audit": "/console/audit",
        "health": "/console/health",
        "outcomes": "/console/outcomes",
        "nudges": "/console/nudges",
        "staff": "/console/staff",
        "counts": "/console/counts",
    }


def _searches(patients: int) -> dict[str, str]:
    """Queries a front desk types, with what each should find (printed as hits)."""
    i = min(4242, patients)
    phone = phone_of(min(4, patients))  # +19735550001
    digits = phone[2:]
    born = born_of(i)
    queries = {
        "common surname (1% Smith)": "Smith",
        "first name": FIRST[i % len(FIRST)],
        "First Last": "Ana Rivera",
        "Last, First": "Rivera, Ana",
        "partial riv ana": "riv ana",
        "accents typed plain": "jose garcia",
        "phone (973) 555-0001": f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
        "phone 973-555-0001": f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
        "phone 9735550001": digits,
        "phone +19735550001": phone,
        "phone last four": digits[-4:],
        "ref": f"B{i}",
        "ref prefix": f"B{str(i)[:2]}",
        "email": email_of(i),
        "date of birth": f"{born:%m/%d/%Y}",
        "nobody": "Zzyzx",
    }
    return {name: "/console/patients?" + urlencode({"q": q}) for name, q in queries.items()}


def _hits(runtime: Runtime, urls: dict[str, str]) -> dict[str, int]:
    """How many patients each search finds (what the page's total says)."""
    hits = dict.fromkeys(urls, 0)
    with runtime.sessions() as session:
        for name, path in urls.items():
            query = matching(parse_qs(urlsplit(path).query)["q"][0], today=datetime.now(UTC).date())
            if query is not None:
                hits[name] = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return hits


def _time_urls(
    client: requests.Session, base: str, urls: dict[str, str], count: int
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    for name, path in urls.items():
        started = time.perf_counter()
        first = client.get(base + path, timeout=300)  # warm: the first read of cold pages
        if first.status_code != 200:
            print(f"  {name}: HTTP {first.status_code} for {path}")
        # A page of seconds is timed 3 times: enough to see it, and the run stays short.
        slow = time.perf_counter() - started > SLOW_SECONDS
        timings[name] = [_timed(client, base + path) for _ in range(3 if slow else count)]
    return timings


def _timed(client: requests.Session, url: str) -> float:
    started = time.perf_counter()
    client.get(url, timeout=300)
    return (time.perf_counter() - started) * 1000


def _import_rates(runtime: Runtime, patients: int, rows: int, now: datetime) -> tuple[float, float]:
    """Rows/s of the visits import, and of a bare COPY of the same file."""
    with TemporaryDirectory() as folder:
        path = _visits_file(Path(folder), patients, rows, now)
        started = time.perf_counter()
        result = import_csv(runtime.sessions, path, settings=runtime.settings)
        ours = rows / (time.perf_counter() - started)
        print(result.detail)
        with psycopg.connect(_dsn(runtime.settings.database_url)) as connection:
            connection.execute(
                "CREATE TEMP TABLE bare_visits (ref text, patient_ref text, office text,"
                " clinician text, visited_at timestamptz, tags text)"
            )
            started = time.perf_counter()
            with connection.cursor().copy(
                "COPY bare_visits FROM STDIN WITH (FORMAT csv, HEADER)"
            ) as copy:
                copy.write(path.read_bytes())
            connection.commit()
            bare = rows / (time.perf_counter() - started)
    return ours, bare


def _visits_file(folder: Path, patients: int, rows: int, now: datetime) -> Path:
    """A visits CSV of `rows` visits tomorrow, to patients B1... (of `patients`)."""
    path = folder / "visits.csv"
    lines = ["ref,patient_ref,office,clinician,visited_at,tags"]
    for n in range(rows):
        at = (now + timedelta(days=1, minutes=n)).astimezone(UTC)
        lines.append(f"IV{n},B{1 + n * 7 % patients},Hoboken,Dr. Lee,{at:%Y-%m-%dT%H:%M%z},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _sqlite_import(rows: int) -> None:
    """The visits import's rate on a fresh SQLite file, its patients imported first."""
    with TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade_to_head(url)
        runtime = Runtime(Settings(database_url=url))
        patients = Path(folder) / "patients.csv"
        lines = ["ref,first_name,last_name,phone,sms_consent"]
        lines += [f"B{n},Ana,Diaz{n},+1201555{n % 10000:04d},yes" for n in range(1, rows + 1)]
        patients.write_text("\n".join(lines) + "\n", encoding="utf-8")
        import_csv(runtime.sessions, patients, settings=runtime.settings)
        path = _visits_file(Path(folder), rows, rows, datetime.now(UTC))
        started = time.perf_counter()
        result = import_csv(runtime.sessions, path, settings=runtime.settings)
        rate = rows / (time.perf_counter() - started)
        runtime.close()
    print(result.detail)
    print(f"\nimport of {rows} visits on SQLite: {rate:.0f} rows/s")


def _percentile(values: list[float], share: float) -> float:
    return (
        statistics.quantiles(values, n=100)[int(share * 100) - 1] if len(values) > 1 else values[0]
    )


def _report(
    pages: dict[str, list[float]],
    searches: dict[str, list[float]],
    hits: dict[str, int],
    imported: tuple[float, float] | None,
    import_rows: int,
) -> None:
    for title, timings, goal in (
        ("pages", pages, PAGE_GOAL_MS),
        ("searches", searches, SEARCH_GOAL_MS),
    ):
        if not timings:
            continue
        print(f"\n{title} (ms)          p50     p95   goal p95 <= {goal:.0f}")
        for name, values in timings.items():
            p95 = _percentile(values, 0.95)
            flag = "" if p95 <= goal else "  over"
            found = f" {hits[name]:7,} hits" if name in hits else ""
            print(f"  {name:28} {statistics.median(values):7.1f} {p95:7.1f}{found}{flag}")
    if pages:
        worst_page = max(_percentile(v, 0.95) for v in pages.values())
        print(summary("console worst page p95", worst_page, PAGE_GOAL_MS, "ms", "<= 1.00"))
    worst_search = max(_percentile(v, 0.95) for v in searches.values())
    print(summary("console worst search p95", worst_search, SEARCH_GOAL_MS, "ms", "<= 1.00"))
    if imported:
        _report_import(*imported, import_rows)


def _report_import(ours: float, bare: float, import_rows: int) -> None:
    print(f"\nimport of {import_rows} visits: {ours:.0f} rows/s; bare COPY {bare:.0f} rows/s")
    print(summary("visits import rate", ours, bare, "rows/s", f">= {IMPORT_GOAL}"))


if __name__ == "__main__":
    main()
