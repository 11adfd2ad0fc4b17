"""Inbound-SMS webhook throughput: signed requests against `followup serve` on PostgreSQL,
beside a bare baseline in the same run.

    python bench/webhook.py [--seconds 20] [--connections 32] [--workers 2] [--warmup 5]
                            [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Needs `wrk` (Debian: `apt-get install wrk`). Seeds patients on PostgreSQL, starts
`followup serve`, and has wrk post pre-signed Twilio webhooks, each with its own
MessageSid and a realistic reply, so every request is validated, stored, triaged and,
for warning signs, queued as a staff alert. A warm-up run (its own messages) comes
first, as a server in service is warm. Then the same requests go, the same way, to
the baseline (bench/bare_webhook.py: a bare Starlette app that checks the signature
with `RequestValidator` and inserts the row with one psycopg statement) under uvicorn
with as many workers, on a schema of its own in the same database. Prints each run's
requests/second, latency percentiles and the rows it left, then one summary line per
measure (ours, baseline, ratio, goal). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine, func, select
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seeding import fresh_schema, seed_patients  # noqa: E402
from bench.summary import summary  # noqa: E402
from followup.models.replies import Alert, Reply  # noqa: E402
from tests.conftest import free_port  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "followup_bench_web"
BARE_SCHEMA = "followup_bench_web_bare"
PUBLIC = "https://followup.clinic.example"
TOKEN = "bench-auth-token"
PATIENTS = 2000
REPLIES = [
    "feeling better, maybe a 3",
    "7",
    "Pain is a 4 today",
    "it pops and hurts when I bend",
    "Much better than last week, thank you!",
    "still stiff in the mornings, 5/10",
    "did my 10 reps, all good",
    "sharp pain going down my leg",
]
LUA = """
-- Each thread formats its own share of the signed requests once, in init(), so that
-- wrk spends the run sending them rather than building them (it shares the 2 cores).
local requests = {}
local counter = 0
setup_threads = {}
function setup(thread) thread:set("id", #setup_threads) table.insert(setup_threads, thread) end
function init(args)
  -- Lines are taken in runs of `mix` (one of each reply), so every thread sends the mix.
  local threads, mix, n = tonumber(args[2]), tonumber(args[3]), 0
  for line in io.lines(args[1]) do
    if math.floor(n / mix) % threads == id then
      local tab = line:find("\\t")
      requests[#requests + 1] = wrk.format("POST", "/twilio/sms", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = line:sub(1, tab - 1),
      }, line:sub(tab + 1))
    end
    n = n + 1
  end
end
function request()
  counter = counter + 1
  return requests[(counter - 1) % #requests + 1]
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before measuring")
    parser.add_argument("--database-url", default=SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    url = prepare(args.database_url, SCHEMA)
    bare_url = prepare(args.database_url, BARE_SCHEMA)
    folder = Path(tempfile.mkdtemp(prefix="followup-bench-"))
    count = write_requests(folder / "requests.tsv", 4000 * args.seconds, prefix="SM")
    write_requests(folder / "warmup.tsv", 4000 * args.warmup, prefix="SW")
    (folder / "post.lua").write_text(LUA)
    env = os.environ | {
        "FOLLOWUP_PUBLIC_URL": PUBLIC,
        "FOLLOWUP_SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+12015550199",
        "FOLLOWUP_ONCALL_SMS": "+12015550900",
    }
    print(
        f"webhook benchmark: {args.workers} uvicorn workers, {args.connections} connections, "
        f"{args.seconds} s, PostgreSQL, {count} distinct signed requests\n"
    )
    followup = [str(Path(sys.executable).parent / "followup"), "serve"]
    ours = run(args, folder, followup, env | {"FOLLOWUP_DATABASE_URL": url})
    print("followup serve:")
    ours_rps, ours_p99 = report(ours, url)
    bare = [sys.executable, "-m", "uvicorn", "bench.bare_webhook:app", "--no-access-log"]
    bare += ["--log-level", "warning"]
    dsn = bare_url.replace("postgresql+psycopg://", "postgresql://")
    theirs = run(args, folder, bare, env | {"BARE_WEBHOOK_DSN": dsn})
    print("\nbaseline, bare Starlette + RequestValidator + one psycopg INSERT:")
    bare_rps, bare_p99 = report(theirs, bare_url)
    print()
    print(summary("webhook", ours_rps, bare_rps, "req/s", ">= 0.50"))
    print(summary("webhook p99 latency", ours_p99, bare_p99, "ms", "ours <= 50 ms"))


def run(args: argparse.Namespace, folder: Path, command: list[str], env: dict[str, str]) -> str:
    """Serve with `command`, warm it up, and return wrk's report of the measured run."""
    port = free_port()
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(args.workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base)
        if args.warmup:
            load(args, base, folder, "warmup.tsv", args.warmup)
        return load(args, base, folder, "requests.tsv", args.seconds)
    finally:
        server.terminate()
        server.wait(30)


def load(args: argparse.Namespace, base: str, folder: Path, requests: str, seconds: int) -> str:
    """Run wrk for `seconds` over the signed requests in `requests`; its report."""
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s"]
    command += ["--latency", "-s", str(folder / "post.lua"), base, "--"]
    command += [str(folder / requests), str(args.threads), str(len(REPLIES))]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def prepare(server_url: str, schema: str) -> str:
    url = fresh_schema(server_url, schema)
    engine = create_engine(url)
    with engine.begin() as connection:
        seed_patients(connection, range(1, PATIENTS + 1), now=datetime.now(UTC), phone=phone)
    engine.dispose()
    return url


def phone(i: int) -> str:
    return f"+1201{i:07d}"


def write_requests(path: Path, count: int, *, prefix: str) -> int:
    validator = RequestValidator(TOKEN)
    with path.open("w") as out:
        for n in range(count):
            params = {
                "MessageSid": f"{prefix}{n:032x}",
                "AccountSid": "AC" + "0" * 32,
                "From": phone(n % PATIENTS + 1),
                "To": "+12015550199",
                "Body": REPLIES[n % len(REPLIES)],
                "NumMedia": "0",
            }
            signature = validator.compute_signature(f"{PUBLIC}/twilio/sms", params)
            out.write(f"{signature}\t{urlencode(params)}\n")
    return count


def wait_for(url: str) -> None:
    """Until the server answers at all (any status: the baseline has no page to GET)."""
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise SystemExit(f"the server at {url} did not start")


def report(output: str, url: str) -> tuple[float, float]:
    """Print a run's figures and the rows it left; return requests/s and p99 in ms."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    done = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", output, re.MULTILINE))
    engine = create_engine(url)
    with engine.connect() as connection:
        measured = Reply.provider_id.startswith("SM")
        stored = connection.scalar(select(func.count()).select_from(Reply).where(measured))
        alerts = connection.scalar(
            select(func.count()).select_from(Alert).join(Reply).where(measured)
        )
        warning_signs = connection.scalar(
            select(func.count())
            .select_from(Reply)
            .where(measured, Reply.triage.in_(["attention", "emergency"]))
        )
    engine.dispose()
    rate = float(rps.group(1)) if rps else 0.0
    print(f"requests/second: {rate:.0f}")
    print("latency: " + ", ".join(f"p{k} {v}" for k, v in percentiles.items()))
    print(
        f"answered: {done.group(1) if done else '?'}; non-2xx: {errors.group(1) if errors else 0}; "
        f"reply rows stored: {stored}; with warning signs: {warning_signs}; alerts raised: {alerts}"
    )
    return rate, _milliseconds(percentiles.get("99", "nan"))


def _milliseconds(figure: str) -> float:
    """wrk's "812.00us", "12.34ms" or "1.02s" in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", figure)
    if found is None:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[found.group(2)]
    return float(found.group(1)) * scale


if __name__ == "__main__":
    main()
