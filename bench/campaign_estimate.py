"""A campaign's estimate beside its real drain, behind a backlog of overdue plan texts.

    python bench/campaign_estimate.py [--patients 400] [--backlog 800] [--limit 100]
                                      [--database-url postgresql+psycopg://...]

Seeds `patients` Hoboken patients and `backlog` overdue plan texts to others on
PostgreSQL, creates an SMS campaign at the global limit (`--limit` texts a second,
FOLLOWUP_SMS_RATE), prints the preview's estimate (`followup.campaigns.estimates`),
launches it and sends everything due, tick after tick in this process against the
Twilio-compatible server, with the global token bucket; then prints when the last
campaign text went, beside the estimate's range. (Quiet hours span the day and caps
are off: the figures must not depend on the hour the benchmark runs at.)
`bench/campaign.py` runs it too. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dispatch import DEFAULT_SERVER, peer, peer_settings  # noqa: E402
from bench.seeding import analyze, fresh_schema, seed_patients, seed_visits  # noqa: E402
from bench.summary import summary  # noqa: E402
from followup.campaigns.launches import launch  # noqa: E402
from followup.campaigns.lifecycle import create_campaign  # noqa: E402
from followup.campaigns.previews import preview  # noqa: E402
from followup.campaigns.segments import Segment  # noqa: E402
from followup.config import Settings  # noqa: E402
from followup.db import transaction  # noqa: E402
from followup.delivery.claims import claim_due, sms_room  # noqa: E402
from followup.models.care import Visit  # noqa: E402
from followup.models.outbox import PENDING_STATUSES, Message  # noqa: E402
from followup.runtime import Runtime  # noqa: E402

SCHEMA = "followup_bench_estimate"


def drain(server_url: str, base_url: str, *, patients: int, backlog: int, limit: float) -> str:
    """Seed, estimate, launch and send; returns the SUMMARY line (actual vs estimate)."""
    url = fresh_schema(server_url, SCHEMA)
    # Imported here: bench/campaign.py imports this module for its own run.
    from bench.campaign import seed  # the campaign benchmark's patients, consent and visits

    seed(url, patients)
    _backlog(url, range(patients + 1, patients + backlog + 1))
    settings = peer_settings(
        url, base_url, sms_rate=limit, sms_per_day=0, sms_per_week=0, batch_size=200
    )
    runtime = Runtime(settings)
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        campaign = create_campaign(
            session,
            settings=settings,
            renderer=runtime.renderer,
            name="bench estimate",
            channel="sms",
            segment=Segment.parse(offices=["Hoboken"]),
            by="bench",
            rate=limit,
            sms_text="Hi {{ patient.first_name }}, our Hoboken office is open on Saturdays.",
        )
        shown = preview(session, campaign, settings=settings, renderer=runtime.renderer, now=now)
        campaign_id = campaign.id
    estimate = shown.estimate
    if estimate is None:
        raise RuntimeError("no estimate")
    for line in estimate.lines(ZoneInfo(settings.clinic_timezone), now):
        print(f"  estimate: {line}")
    started = time.perf_counter()
    launch(runtime.sessions, campaign_id, settings=settings, by="bench", now=now)
    last = _send_all(runtime, settings, campaign_id)
    actual = (last - now).total_seconds()
    low, high = ((t - now).total_seconds() for t in (estimate.earliest, estimate.latest))
    runtime.close()
    print(
        f"  {shown.total} campaign texts behind {estimate.ahead} overdue plan texts at "
        f"{limit:g}/s: last sent after {actual:.1f} s (estimate {low:.1f} to {high:.1f} s; "
        f"wall {time.perf_counter() - started:.1f} s)"
    )
    return summary(f"campaign drain behind {backlog} (estimate low)", actual, low, "s", "~1.00")


def _backlog(url: str, ids: range) -> None:
    """Patients outside the segment (a Weehawken visit), each with one overdue plan text."""
    engine = create_engine(url)
    overdue = datetime.now(UTC) - timedelta(hours=1)
    with engine.begin() as connection:
        seed_patients(connection, ids, now=overdue, phone=lambda i: f"+1551{i:07d}")
        seed_visits(connection, ids, visited_at=overdue - timedelta(days=2))
        connection.execute(update(Visit).where(Visit.id.in_(ids)).values(office="weehawken"))
        connection.execute(
            insert(Message),
            [
                {
                    "patient_id": i,
                    "channel": "sms",
                    "purpose": "care",
                    "template": "keep-moving",
                    "step": "bench",
                    "visit_id": i,
                    "episode_id": i,
                    "status": "scheduled",
                    "due_at": overdue,
                    "expires_at": overdue + timedelta(days=1),
                    "updated_at": overdue,
                    "created_at": overdue,
                }
                for i in ids
            ],
        )
    analyze(engine)
    engine.dispose()


def _send_all(runtime: Runtime, settings: Settings, campaign_id: int) -> datetime:
    """Tick until nothing of the campaign is left to send; when its last text went."""
    dispatcher = runtime.dispatcher()
    while True:
        with runtime.sessions() as session:
            room = sms_room(session, settings)
            left = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.campaign_id == campaign_id, Message.status.in_(PENDING_STATUSES))
            )
        if not left:
            break
        now = datetime.now(UTC)
        batches = claim_due(runtime.sessions, now=now, limit=1000, batch_size=200, sms_limit=room)
        for batch in batches:
            dispatcher.send_batch(batch.message_ids)
        if not batches:
            time.sleep(0.05)
    with runtime.sessions() as session:
        last = session.scalar(
            select(func.max(Message.sent_at)).where(Message.campaign_id == campaign_id)
        )
    if last is None:
        raise RuntimeError("nothing was sent")
    return last


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=800)
    parser.add_argument("--limit", type=float, default=100.0, help="texts a second, global")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    with peer(latency=0.0) as base_url:
        print(
            drain(
                args.database_url,
                base_url,
                patients=args.patients,
                backlog=args.backlog,
                limit=args.limit,
            )
        )


if __name__ == "__main__":
    main()
