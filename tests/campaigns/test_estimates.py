"""Estimates that count what shares the sender, and progress that says why messages wait."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from followup.campaigns.estimates import Estimate
from followup.campaigns.launches import launch
from followup.campaigns.lifecycle import pause
from followup.campaigns.waiting import why_waiting
from followup.config import Settings
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.campaigns import Campaign
from followup.models.care import Office, Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.runtime import Runtime
from tests.campaigns.test_languages import shown
from tests.campaigns.test_lifecycle import NOW, new_campaign, patient

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The clinic's sender: one text a second for everything (the issue's clinic)."""
    return Settings(database_url=database_url, sms_rate=1.0)


def plan_texts(
    runtime: Runtime, patient_id: int, due: list[datetime], channel: str = "sms", **values: object
) -> None:
    with transaction(runtime.sessions) as session:
        for n, at in enumerate(due):
            session.add(
                Message(
                    patient_id=patient_id,
                    channel=channel,
                    purpose=Purpose.CARE,
                    template="check-in",
                    step=f"s{n}",
                    due_at=at,
                    expires_at=at + timedelta(days=1),
                    **values,
                )
            )


def test_the_rate_is_bounded_by_the_global_limit(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="sends at most 1 a second \\(FOLLOWUP_SMS_RATE\\)"):
        new_campaign(runtime, rate=2.0)
    with pytest.raises(InvalidInput, match="more than 0"):
        new_campaign(runtime, rate=0.0)
    for slow in (1e-300, 1e-9, 0.01):  # slower than a message a minute
        with pytest.raises(InvalidInput, match="at least 1 message a minute"):
            new_campaign(runtime, rate=slow)
    for absurd in (math.inf, math.nan):
        with pytest.raises(InvalidInput, match="must be a number of messages a second"):
            new_campaign(runtime, rate=absurd)
    new_campaign(runtime, name="slow", rate=1 / 60)  # a message a minute
    # Email has no global limit: only the campaign's own bound.
    new_campaign(
        runtime, channel="email", sms_text=None, email_subject="News", email_text="Hi", rate=20.0
    )


def test_the_estimate_waits_behind_due_texts_and_counts_those_coming_due(
    runtime: Runtime,
) -> None:
    for n in (1, 2, 3):
        patient(runtime, f"P{n}")
    elsewhere = patient(runtime, "P9", office=Office.WEEHAWKEN)
    plan_texts(runtime, elsewhere, [NOW - timedelta(hours=1)] * 60)  # overdue
    plan_texts(runtime, elsewhere, [NOW + timedelta(seconds=30)] * 120)  # coming due
    campaign_id = new_campaign(runtime, rate=1.0)
    estimate = shown(runtime, campaign_id).estimate
    assert estimate is not None
    assert (estimate.ahead, estimate.rate, estimate.limit) == (60, 1.0, 1.0)
    assert estimate.starts == NOW + timedelta(seconds=60)
    assert estimate.earliest == NOW + timedelta(seconds=62)
    assert estimate.latest == NOW + timedelta(seconds=182)  # the 120 plan texts go first
    lines = estimate.lines(NEW_YORK, NOW)
    assert lines[0].startswith(
        "Texts start about Fri Nov 20 10:01 AM EST, behind 60 texts already due"
    )
    assert "the clinic's send limit is 1 a second" in lines[0]
    assert lines[1] == (
        "All sent between Fri Nov 20 10:01 AM EST and Fri Nov 20 10:03 AM EST (62 s from now "
        "to 3 min "
        "from now; the later if plan texts coming due meanwhile go first)."
    )


def test_the_latest_finish_counts_the_plan_texts_each_push_lets_in(runtime: Runtime) -> None:
    """Plan texts coming due before the end go first and push it later, which lets the
    next ones in: the upper bound follows them until the end stops moving."""
    for n in (1, 2, 3):
        patient(runtime, f"P{n}")
    elsewhere = patient(runtime, "P9", office=Office.WEEHAWKEN)
    plan_texts(runtime, elsewhere, [NOW - timedelta(hours=1)] * 60)
    plan_texts(runtime, elsewhere, [NOW + timedelta(seconds=30)] * 60)  # before the end
    plan_texts(runtime, elsewhere, [NOW + timedelta(seconds=100)] * 60)  # once pushed
    plan_texts(runtime, elsewhere, [NOW + timedelta(hours=2)] * 60)  # long after it
    estimate = shown(runtime, new_campaign(runtime, rate=1.0)).estimate
    assert estimate is not None
    assert estimate.earliest == NOW + timedelta(seconds=62)
    assert estimate.latest == NOW + timedelta(seconds=182)


def test_an_email_cap_is_counted_for_an_email_campaign(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.with_overrides(email_per_day=1)
    reached = patient(runtime, "P1")
    patient(runtime, "P2")
    plan_texts(  # P1 had a plan email today
        runtime,
        reached,
        [NOW - timedelta(hours=1)],
        channel="email",
        status=MessageStatus.SENT,
        attempted_at=NOW - timedelta(hours=1),
    )
    emails = new_campaign(
        runtime, channel="email", sms_text=None, email_subject="News", email_text="Hi"
    )
    estimate = shown(runtime, emails).estimate
    assert estimate is not None
    assert (estimate.capped, estimate.cap_rule) == (1, "email: at most 1 a day")
    assert estimate.lines(NEW_YORK, NOW)[-1].startswith(
        "1 recipient is held by the frequency cap (email: at most 1 a day)"
    )


def test_an_email_campaign_is_estimated_as_emails(runtime: Runtime) -> None:
    """Texts already due hold no email, and email has no send limit: it goes from its
    start at its own rate, and the estimate says emails."""
    for n in (1, 2, 3):
        patient(runtime, f"P{n}")
    elsewhere = patient(runtime, "P9", office=Office.WEEHAWKEN)
    plan_texts(runtime, elsewhere, [NOW - timedelta(hours=1)] * 60)
    emails = new_campaign(
        runtime, channel="email", sms_text=None, email_subject="News", email_text="Hi", rate=2.0
    )
    estimate = shown(runtime, emails).estimate
    assert estimate is not None
    assert (estimate.ahead, estimate.rate, estimate.limit) == (0, 2.0, None)
    assert (estimate.texts_start, estimate.emails_start) == (None, NOW)
    assert estimate.lines(NEW_YORK, NOW) == [
        "Emails start about Fri Nov 20 10:00 AM EST; at 2 a second, the campaign's rate "
        "(emails have no send limit).",
        "All sent by about Fri Nov 20 10:00 AM EST (1 s from now).",
    ]


def test_a_campaign_by_both_channels_says_when_each_starts(runtime: Runtime) -> None:
    patient(runtime, "P1", phone="", email="p1@example.com")  # no phone: by email
    patient(runtime, "P2")
    elsewhere = patient(runtime, "P9", office=Office.WEEHAWKEN)
    plan_texts(runtime, elsewhere, [NOW - timedelta(hours=1)] * 60)
    both = new_campaign(
        runtime,
        channel="preferred",
        email_subject="News",
        email_text="Hi",
        rate=1.0,
    )
    estimate = shown(runtime, both).estimate
    assert estimate is not None
    assert (estimate.emails_start, estimate.texts_start) == (NOW, NOW + timedelta(seconds=60))
    assert estimate.starts == NOW
    assert estimate.lines(NEW_YORK, NOW)[0] == (
        "Emails start about Fri Nov 20 10:00 AM EST and texts about Fri Nov 20 10:01 AM EST, "
        "behind 60 texts already due (alerts and plan texts go first); texts at 1 a second "
        "(the clinic's send limit is 1 a second; this campaign asks 1)."
    )


def test_with_nobody_to_reach_the_estimate_says_the_campaigns_channel(
    runtime: Runtime,
) -> None:
    emails = new_campaign(
        runtime, channel="email", sms_text=None, email_subject="News", email_text="Hi"
    )
    estimate = shown(runtime, emails).estimate
    assert estimate is not None
    assert estimate.lines(NEW_YORK, NOW)[0].startswith("Emails start about ")


def test_quiet_hours_and_the_frequency_cap_are_counted(runtime: Runtime) -> None:
    capped = patient(runtime, "P1")
    night = patient(runtime, "P2")
    patient(runtime, "P3")
    with transaction(runtime.sessions) as session:
        session.get_one(Patient, night).timezone = "Asia/Tokyo"  # midnight there
    # P1 had a plan text today: the daily cap (1 SMS) has no room for the campaign.
    plan_texts(
        runtime,
        capped,
        [NOW - timedelta(hours=1)],
        status=MessageStatus.SENT,
        attempted_at=NOW - timedelta(hours=1),
    )
    estimate = shown(runtime, new_campaign(runtime, rate=1.0)).estimate
    assert estimate is not None
    assert (estimate.quiet, estimate.capped) == (1, 1)
    opens = datetime(2026, 11, 21, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert estimate.quiet_opens == opens
    assert estimate.earliest == opens + timedelta(seconds=1)
    lines = estimate.lines(NEW_YORK, NOW)
    assert "1 text waits for quiet hours to end (08:00 the patient's time" in lines[2]
    assert lines[3].startswith("1 recipient is held by the frequency cap (SMS: at most 1 a day")


def test_progress_says_why_each_message_waits_and_when_it_should_go(runtime: Runtime) -> None:
    ids = [patient(runtime, f"P{n}") for n in (1, 2, 3, 4, 5)]
    with transaction(runtime.sessions) as session:
        session.get_one(Patient, ids[4]).timezone = "Asia/Tokyo"
    elsewhere = patient(runtime, "P9", office=Office.WEEHAWKEN)
    plan_texts(runtime, elsewhere, [NOW - timedelta(hours=1)] * 40)
    campaign_id = new_campaign(runtime, rate=1.0)
    launch(runtime.sessions, campaign_id, settings=runtime.settings, by="M", now=NOW)
    later = NOW + timedelta(days=1)
    with transaction(runtime.sessions) as session:
        rows = {m.patient_id: m for m in session.query(Message).filter_by(campaign_id=campaign_id)}
        rows[ids[2]].status = MessageStatus.QUEUED
        rows[ids[3]].due_at = later
        rows[ids[3]].last_error = "frequency cap (SMS: at most 1 a day): moved to Sat 11-21"
    with runtime.sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        waits = {
            w.reason: (w.count, w.from_)
            for w in why_waiting(
                session, campaign, settings=runtime.settings, now=NOW + timedelta(seconds=5)
            )
        }
    behind = NOW + timedelta(seconds=45)
    assert waits == {
        "queued behind 40 earlier messages (alerts and plan texts go first)": (2, behind),
        "throttle: claimed, waiting its turn at the sender's limit": (
            1,
            NOW + timedelta(seconds=2),
        ),
        "held by the frequency cap (SMS: at most 1 a day): moved to Sat 11-21": (1, later),
        "quiet hours until 08:00 (the patient's time)": (
            1,
            datetime(2026, 11, 21, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        ),
    }
    with transaction(runtime.sessions) as session:
        pause(session, session.get_one(Campaign, campaign_id), by="M")
    with runtime.sessions() as session:
        [paused] = why_waiting(
            session, session.get_one(Campaign, campaign_id), settings=runtime.settings, now=NOW
        )
    assert (paused.reason, paused.count) == ("paused: nothing goes until it is resumed", 5)


@pytest.mark.parametrize(
    ("held", "said"),
    [
        (1, ("1 text waits for quiet", "1 recipient is held")),
        (2, ("2 texts wait for quiet", "2 recipients are held")),
        (1200, ("1,200 texts wait for quiet", "1,200 recipients are held")),
    ],
)
def test_the_estimate_counts_in_the_singular_where_it_is_one(
    held: int, said: tuple[str, str]
) -> None:
    estimate = Estimate(
        starts=NOW,
        texts_start=NOW,
        emails_start=None,
        earliest=NOW + timedelta(minutes=5),
        latest=NOW + timedelta(minutes=5),
        asked=1.0,
        rate=1.0,
        limit=1.0,
        ahead=0,
        quiet=held,
        quiet_opens=NOW + timedelta(hours=1),
        capped=held,
        cap_rule="SMS: at most 1 a day",
        quiet_start=time(8),
    )
    lines = estimate.lines(NEW_YORK, NOW)
    assert lines[2].startswith(said[0]) and lines[3].startswith(said[1])
