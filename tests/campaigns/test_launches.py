"""Launches written by the database: the same channels, slots and sending windows the
Python rules give, chunk by chunk, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, literal, select, type_coerce

from followup.campaigns.launches import launch, request_launch, write_launch
from followup.campaigns.lifecycle import cancel, launch_progress
from followup.campaigns.names import get_campaign
from followup.campaigns.reach import choose_channel
from followup.campaigns.segments import Segment, candidates, reachable
from followup.db import transaction
from followup.models.base import UTCDateTime
from followup.models.campaigns import Campaign
from followup.models.care import Consent, Patient
from followup.models.outbox import Message
from followup.runtime import Runtime
from followup.schedule import into_sending_window
from followup.sql_time import sending_window, shifted
from tests.campaigns.test_lifecycle import NOW, new_campaign, patient

NY = ZoneInfo("America/New_York")
ZONES = ["America/New_York", "America/Los_Angeles", "Australia/Lord_Howe", "Asia/Kolkata"]


def test_the_database_chooses_every_channel_as_choose_channel_does(runtime: Runtime) -> None:
    contact = {"none": None, "empty": "", "set": "x"}
    cases = list(
        itertools.product(
            (False, True),  # discharged
            contact,  # phone
            contact,  # email
            (None, False, True),  # SMS campaign consent
            (None, False, True),  # email campaign consent
            ("sms", "email"),  # preferred channel
        )
    )
    with transaction(runtime.sessions) as session:
        for n, (gone, phone, email, sms_ok, email_ok, preferred) in enumerate(cases, 1):
            session.execute(
                insert(Patient).values(
                    id=n,
                    ref=f"P{n}",
                    first_name="Pat",
                    last_name="Doe",
                    phone=contact[phone] and f"+1201555{n:04d}",
                    email=contact[email] and f"p{n}@example.com",
                    preferred_channel=preferred,
                    language="en",
                    timezone="America/New_York",
                    discharged_at=NOW if gone else None,
                    created_at=NOW,
                )
            )
            for channel, granted in (("sms", sms_ok), ("email", email_ok)):
                if granted is not None:
                    session.add(
                        Consent(
                            patient_id=n,
                            channel=channel,
                            purpose="campaign",
                            granted=granted,
                            changed_at=NOW,
                            source="test",
                            changed_by="test",
                        )
                    )
    everyone = Segment()
    with runtime.sessions() as session:
        for wanted in ("sms", "email", "preferred"):
            in_python = {
                c.patient_id: choice.value if (choice := choose_channel(c, wanted)[0]) else None
                for c in candidates(session, everyone, zone=NY)
            }
            query = reachable(everyone, wanted=wanted, zone=NY)
            in_sql = {row.id: row.channel for row in session.execute(query)}
            assert in_sql == in_python, wanted


MOMENTS = [
    datetime(2026, 11, 20, 15, 0, tzinfo=UTC),  # inside the window in New York
    datetime(2026, 11, 20, 11, 59, 59, 999999, tzinfo=UTC),  # just before 07:00
    datetime(2026, 11, 21, 2, 0, tzinfo=UTC),  # 21:00 in New York: closed
    datetime(2026, 3, 8, 5, 0, tzinfo=UTC),  # the night of the spring change
    datetime(2026, 11, 1, 4, 0, tzinfo=UTC),  # the night of the autumn change
    datetime(2026, 4, 4, 12, 0, tzinfo=UTC),  # Lord Howe's half-hour autumn change
]
WINDOWS = [(time(8), time(21)), (time(1, 30), time(23)), (time(2, 30), time(21))]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_the_database_moves_texts_into_the_window_as_python_does(
    runtime: Runtime, start: time, end: time
) -> None:
    """Including a window opening in the spring gap and in the repeated autumn hour."""
    cases = list(itertools.product(MOMENTS, ZONES))
    with runtime.sessions() as session:
        for moment, zone in cases:
            expected = into_sending_window(moment, zone=ZoneInfo(zone), start=start, end=end)
            moved = sending_window(
                literal(moment, UTCDateTime()), literal(zone), start=start, end=end
            )
            got = session.scalar(select(type_coerce(moved, UTCDateTime())))
            assert got == expected, (moment, zone)


def test_shifted_adds_whole_microseconds(runtime: Runtime) -> None:
    moment = datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC)
    with runtime.sessions() as session:
        later = session.scalar(
            select(
                type_coerce(
                    shifted(literal(moment, UTCDateTime()), 3 * 86400 * 10**6 + 1), UTCDateTime()
                )
            )
        )
    assert later == moment + timedelta(days=3, microseconds=1)


def test_chunks_give_the_slots_one_statement_gives(runtime: Runtime) -> None:
    """Slots follow patient order at the rate whatever the chunk; texts wait for 08:00
    in their patient's own zone, emails do not; each expires two days after its slot."""
    for n in range(1, 8):
        patient(runtime, f"P{n}", campaign=None if n != 4 else {})  # P4 never asked
    with transaction(runtime.sessions) as session:
        session.get_one(Patient, 2).timezone = "America/Los_Angeles"
        session.get_one(Patient, 3).preferred_channel = "email"
    dawn = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 05:00 in New York
    rows = {}
    for size in (2, 1000):
        name = f"dawn-{size}"
        campaign_id = new_campaign(
            runtime,
            name=name,
            channel="preferred",
            start_at=dawn,
            rate=0.5,
            email_subject="News from {{ clinic.name }}",
            email_text="Hi {{ patient.first_name }}, we are open on Saturdays.",
            sms_text="Hi {{ patient.first_name }}, we are open on Saturdays.",
        )
        with transaction(runtime.sessions) as session:
            request_launch(session, session.get_one(Campaign, campaign_id), by="Maria")
        written = write_launch(
            runtime.sessions,
            campaign_id,
            settings=runtime.settings,
            by="Maria",
            now=dawn,
            chunk=size,
        )
        assert written == 6
        with runtime.sessions() as session:
            found = session.execute(
                select(Message.patient_id, Message.channel, Message.due_at, Message.expires_at)
                .where(Message.campaign_id == campaign_id)
                .order_by(Message.patient_id)
            ).all()
            progress = launch_progress(session.get_one(Campaign, campaign_id))
        assert (progress.state, progress.done, progress.total) == ("done", 6, 6)
        rows[size] = [tuple(row) for row in found]
    assert rows[2] == rows[1000]
    opens = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # 08:00 in New York
    assert rows[2] == [
        (1, "sms", opens, opens + timedelta(days=2)),
        (2, "sms", opens + timedelta(hours=3), opens + timedelta(hours=3, days=2)),  # Los Angeles
        (3, "email", dawn + timedelta(seconds=4), dawn + timedelta(seconds=4, days=2)),
        (5, "sms", opens, opens + timedelta(days=2)),
        (6, "sms", opens, opens + timedelta(days=2)),
        (7, "sms", opens, opens + timedelta(days=2)),
    ]


def test_a_cancelled_campaign_writes_nothing_more(runtime: Runtime) -> None:
    patient(runtime, "P1")
    campaign_id = new_campaign(runtime)
    with transaction(runtime.sessions) as session:
        request_launch(session, session.get_one(Campaign, campaign_id), by="Maria")
        cancel(session, get_campaign(session, "winter"), by="Dr. Lee")
    assert write_launch(runtime.sessions, campaign_id, settings=runtime.settings, by="Maria") == 0
    with runtime.sessions() as session:
        assert (
            session.scalars(select(Message).where(Message.campaign_id == campaign_id)).all() == []
        )


def test_a_launch_with_nobody_to_reach_finishes(runtime: Runtime) -> None:
    patient(runtime, "P1", campaign={})
    campaign_id = new_campaign(runtime)
    assert launch(runtime.sessions, campaign_id, settings=runtime.settings, by="Maria") == 0
    with runtime.sessions() as session:
        progress = launch_progress(session.get_one(Campaign, campaign_id))
    assert (progress.state, progress.done, progress.total) == ("done", 0, 0)
