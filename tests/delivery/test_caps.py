"""Frequency caps: one patient-level budget for plan and campaign texts, per local day."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import ClauseElement, func, select, text
from sqlalchemy.orm import Session

from followup.campaigns.launches import launch
from followup.campaigns.lifecycle import create_campaign
from followup.campaigns.segments import Segment
from followup.care.patients import record_consents
from followup.cli.main import main
from followup.db import transaction
from followup.delivery.caps import PLANNED, SPENT, Cap
from followup.delivery.claims import claim_due
from followup.models.base import Channel
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.runtime import Runtime
from tests.conftest import add_patient, enrol_visit, tick
from tests.peers.twilio_server import TwilioPeer

NY = ZoneInfo("America/New_York")
# Three weeks before the clocks go back (Sunday 1 November 2026), a Tuesday 10:00.
START = datetime(2026, 10, 13, 14, 0, tzinfo=UTC)


def test_a_day_and_any_seven_days_are_counted_in_local_dates() -> None:
    cap = Cap(per_day=1, per_week=3)
    days = Counter({date(2026, 10, 26): 1, date(2026, 10, 28): 1, date(2026, 10, 30): 1})
    assert not cap.has_room(days, date(2026, 10, 28))  # the day has one
    assert not cap.has_room(days, date(2026, 10, 31))  # 26, 28, 30 are within seven days
    assert not cap.has_room(days, date(2026, 10, 24))  # 24-30 would hold four
    assert cap.has_room(days, date(2026, 11, 2))  # 27 Oct - 2 Nov holds two
    assert Cap(0, 0).has_room(Counter({date(2026, 10, 28): 9}), date(2026, 10, 28))


@given(
    per_day=st.integers(0, 3),
    per_week=st.integers(0, 5),
    spread=st.lists(st.tuples(st.integers(-10, 10), st.integers(1, 3)), max_size=8),
    offset=st.integers(-3, 3),
)
def test_room_is_what_every_seven_day_run_holding_the_day_leaves(
    per_day: int, per_week: int, spread: list[tuple[int, int]], offset: int
) -> None:
    day = date(2026, 10, 28)
    days: Counter[date] = Counter()
    for shift, count in spread:
        days[day + timedelta(days=shift)] += count
    target = day + timedelta(days=offset)
    runs = [[target + timedelta(days=start + n) for n in range(7)] for start in range(-6, 1)]
    room = (not per_day or days[target] < per_day) and (
        not per_week or all(sum(days[d] for d in run) < per_week for run in runs)
    )
    assert Cap(per_day, per_week).has_room(days, target) == room


def test_a_capped_text_keeps_its_local_time_across_the_clock_change() -> None:
    cap = Cap(per_day=1, per_week=0)
    saturday = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)  # 10:00 EDT
    slot = cap.next_slot(Counter({date(2026, 10, 31): 1}), saturday, NY, window=(time(8), time(21)))
    assert slot == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # 10:00 EST, a day later
    assert cap.next_slot(Counter(), saturday, NY, window=None) == saturday


def campaign_patient(runtime: Runtime, ref: str = "P1", *, phone: str = "+12015550111") -> int:
    patient = add_patient(runtime, ref, phone=phone)
    with transaction(runtime.sessions) as session:
        record_consents(
            session,
            session.get_one(Patient, patient.id),
            {(Channel.SMS, Purpose.CAMPAIGN): True},
            source="intake form",
            by="front desk",
        )
    return patient.id


def campaign(runtime: Runtime, name: str, at: datetime) -> None:
    with transaction(runtime.sessions) as session:
        created = create_campaign(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            name=name,
            channel="sms",
            segment=Segment(),
            sms_text=f"Hi {{{{ patient.first_name }}}}, {name} news from {{{{ clinic.name }}}}.",
            start_at=at,
            by="Maria",
        )
    launch(runtime.sessions, created.id, settings=runtime.settings, by="Maria", now=at)


def walk(runtime: Runtime, until: datetime) -> None:
    """Dispatch every due message in turn, as beat would, until `until`."""
    while True:
        with runtime.sessions() as session:
            due = session.scalar(
                select(func.min(Message.due_at)).where(Message.status == MessageStatus.SCHEDULED)
            )
        if due is None or due > until:
            return
        tick(runtime, due)


def sent_days(runtime: Runtime, patient_id: int) -> Counter[date]:
    with runtime.sessions() as session:
        times = session.scalars(
            select(Message.attempted_at).where(
                Message.patient_id == patient_id, Message.status == MessageStatus.SENT
            )
        ).all()
    return Counter(moment.astimezone(NY).date() for moment in times if moment)


def test_plan_and_campaign_texts_hold_the_caps_for_a_month_across_the_clock_change(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = campaign_patient(live_runtime)
    # An episode of three visits (one tagged osteoarthritis) and a campaign a week, each
    # recorded when it happens while the clock walks on.
    events = [
        (
            START - timedelta(hours=2),
            lambda at: enrol_visit(live_runtime, patient, ref="V1", at=at),
        ),
        (START + timedelta(days=1), lambda at: campaign(live_runtime, "c1", at)),
        (
            START + timedelta(days=5),
            lambda at: enrol_visit(live_runtime, patient, ref="V2", at=at, tags="osteoarthritis"),
        ),
        (START + timedelta(days=9), lambda at: campaign(live_runtime, "c2", at)),
        (START + timedelta(days=16), lambda at: campaign(live_runtime, "c3", at)),
        (START + timedelta(days=23), lambda at: campaign(live_runtime, "c4", at)),
        (
            START + timedelta(days=26),
            lambda at: enrol_visit(live_runtime, patient, ref="V3", at=at),
        ),
    ]
    for at, event in events:
        walk(live_runtime, at)
        event(at)
    walk(live_runtime, START + timedelta(days=35))
    days = sent_days(live_runtime, patient)
    # Six plan steps and three campaigns went out, on both sides of the clock change.
    assert sum(days.values()) == len(twilio_server.messages) == 9
    assert max(days.values()) == 1
    first, last = min(days), max(days)
    assert first < date(2026, 11, 1) < last
    for offset in range((last - first).days + 1):
        start = first + timedelta(days=offset)
        assert sum(days[start + timedelta(days=n)] for n in range(7)) <= 3, start
    with live_runtime.sessions() as session:
        unsent = session.execute(
            select(Message.purpose, Message.status, Message.last_error).where(
                Message.status != MessageStatus.SENT
            )
        ).all()
    # The first week's plan took the week's three texts: the first campaign had no room
    # before it expired and is skipped with the reason. The last steps are still to come.
    assert sorted(unsent) == [
        (
            Purpose.CAMPAIGN,
            MessageStatus.SKIPPED,
            "frequency cap (SMS: at most 1 a day and 3 in 7 days): no room before it expires",
        ),
        (Purpose.CARE, MessageStatus.SCHEDULED, None),
        (Purpose.CARE, MessageStatus.SCHEDULED, None),
    ]


def test_a_campaign_gives_way_to_the_plan_step_of_the_day_and_goes_the_next(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = campaign_patient(live_runtime)
    enrol_visit(live_runtime, patient, ref="V1", at=START)
    two_weeks = START + timedelta(days=14, hours=-1)  # 09:00, the 2-week check-in at 10:00
    walk(live_runtime, two_weeks)
    sent = len(twilio_server.messages)
    campaign(live_runtime, "c1", two_weeks)
    tick(live_runtime, two_weeks)
    with live_runtime.sessions() as session:
        held = session.scalars(select(Message).where(Message.purpose == Purpose.CAMPAIGN)).one()
    assert len(twilio_server.messages) == sent
    assert held.status == MessageStatus.SCHEDULED
    assert held.last_error == (
        "frequency cap (SMS: at most 1 a day and 3 in 7 days): moved to Wed 10-28"
    )
    walk(live_runtime, two_weeks + timedelta(days=1))
    bodies = [str(message["body"]) for message in twilio_server.messages[sent:]]
    assert len(bodies) == 2
    assert bodies[0].startswith("Hi Pat, how are you doing since your visit?")
    assert "c1 news" in bodies[1]


def test_two_workers_cannot_both_spend_the_last_text_of_a_day(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    campaign_patient(live_runtime)
    evening = START + timedelta(hours=8)
    campaign(live_runtime, "c1", evening)
    campaign(live_runtime, "c2", evening)
    batches = claim_due(live_runtime.sessions, now=evening, limit=10, batch_size=1)
    assert len(batches) == 2
    dispatcher = live_runtime.dispatcher(lambda: evening)
    workers = [
        threading.Thread(target=dispatcher.send_batch, args=(batch.message_ids,))
        for batch in batches
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(twilio_server.messages) == 1
    with live_runtime.sessions() as session:
        statuses = sorted(session.scalars(select(Message.status)))
    assert statuses == [MessageStatus.SCHEDULED, MessageStatus.SENT]


def test_schedule_shows_where_the_cap_moves_a_message(live_runtime: Runtime) -> None:
    patient = campaign_patient(live_runtime)
    now = datetime.now(UTC).replace(microsecond=0)
    enrol_visit(live_runtime, patient, ref="V1", at=now)
    campaign(live_runtime, "c1", now)
    runner = CliRunner(env={"FOLLOWUP_DATABASE_URL": live_runtime.settings.database_url})
    shown = runner.invoke(main, ["schedule", "P1"]).output
    [welcome] = [line for line in shown.splitlines() if "welcome" in line]
    [news] = [line for line in shown.splitlines() if "campaign:" in line]
    assert "frequency cap" not in welcome
    # The plan's first week takes the three texts the week allows.
    assert news.endswith(
        "[frequency cap (SMS: at most 1 a day and 3 in 7 days): no room before it expires:"
        " will be skipped]"
    )


def test_the_cap_reads_a_patients_days_from_its_own_indexes(runtime: Runtime) -> None:
    """The cap's two reads (messages sent since a day, plan messages still to go) use
    the partial indexes made for them, on both databases: a query whose conditions no
    longer imply an index's predicate would silently read every message the patient
    ever had (470 ms of a 24,000-recipient campaign preview)."""
    patient = add_patient(runtime)
    enrol_visit(runtime, patient, at=START)
    with runtime.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":  # a handful of rows: it would
            session.execute(text("SET LOCAL enable_seqscan = off"))  # scan them all
        spent = plan_of(session, SPENT, patients=[patient.id], since=START)
        planned = plan_of(session, PLANNED, patients=[patient.id], until=START + timedelta(7))
    assert "ix_messages_patient_attempted_at" in spent, spent
    assert "ix_messages_patient_pending_care" in planned, planned


def plan_of(session: Session, read: Mapping[str, ClauseElement], **params: object) -> str:
    """The database's plan for the statement `read` holds for it, run with `params`."""
    dialect = session.get_bind().dialect
    statement = read[dialect.name].params(**params)
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN" if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
    return " ".join(str(line) for line in session.execute(text(f"{explain} {compiled}")))
