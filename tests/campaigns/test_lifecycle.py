"""Campaigns: segments in the database, previews that match launches, sandboxed text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from followup.campaigns.launches import launch
from followup.campaigns.lifecycle import (
    cancel,
    create_campaign,
    pause,
    progress,
    resume,
)
from followup.campaigns.names import get_campaign
from followup.campaigns.previews import Preview, preview
from followup.campaigns.segments import Segment, candidates
from followup.care.patients import record_consents
from followup.care.visits import discharge_patient, record_visit
from followup.db import transaction
from followup.delivery.claims import claim_due
from followup.exceptions import InvalidInput
from followup.models.base import Channel
from followup.models.care import Office, Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.staff import AuditEntry
from followup.replies.inbound_sms import InboundSms, receive_sms
from followup.runtime import Runtime
from tests.conftest import add_patient, tick
from tests.peers.twilio_server import TwilioPeer

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 in New Jersey


def patient(
    runtime: Runtime,
    ref: str,
    *,
    office: Office = Office.HOBOKEN,
    visited: datetime = NOW - timedelta(days=30),
    tags: str = "lower-back",
    campaign: dict[Channel, bool] | None = None,
    language: str = "en",
    phone: str | None = None,
    email: str | None = None,
) -> int:
    """A patient with one visit and the given campaign consent (SMS and email by default)."""
    number = phone if phone is not None else f"+1201555{int(ref[1:]):04d}"
    added = add_patient(
        runtime, ref, phone=number, email=email if email is not None else f"{ref}@example.com"
    )
    with transaction(runtime.sessions) as session:
        row = session.get_one(Patient, added.id)
        row.language = language
        record_consents(
            session,
            row,
            {
                (channel, Purpose.CAMPAIGN): granted
                for channel, granted in (
                    {Channel.SMS: True, Channel.EMAIL: True} if campaign is None else campaign
                ).items()
            },
            source="intake form",
            by="front desk",
        )
        record_visit(
            session,
            settings=runtime.settings,
            ref=f"V{ref}",
            patient=row,
            office=office,
            clinician="Dr. Lee",
            visited_at=visited,
            tags=tags,
            plan_name="lower-back",
            now=visited,
        )
        # Only the campaign's own messages matter here.
        for message in session.scalars(select(Message).where(Message.patient_id == row.id)):
            message.status = MessageStatus.CANCELLED
    return added.id


def segment_ids(runtime: Runtime, **filters: object) -> list[int]:
    with runtime.sessions() as session:
        return [
            c.patient_id
            for c in candidates(
                session, Segment.parse(**filters), zone=ZoneInfo("America/New_York"), now=NOW
            )
        ]


def new_campaign(runtime: Runtime, **overrides: object) -> int:
    values: dict[str, object] = {
        "name": "winter",
        "channel": "sms",
        "segment": Segment.parse(offices=["Hoboken"]),
        "by": "Maria (front desk)",
        "sms_text": "Hi {{ patient.first_name }}, winter tip from {{ clinic.name }}: keep moving every day.",
        "start_at": NOW,
        "rate": 10.0,
    }
    with transaction(runtime.sessions) as session:
        campaign = create_campaign(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            **(values | overrides),  # type: ignore[arg-type]
        )
        return campaign.id


def preview_winter(runtime: Runtime) -> Preview:
    with runtime.sessions() as session:
        return preview(
            session,
            get_campaign(session, "winter"),
            settings=runtime.settings,
            renderer=runtime.renderer,
        )


def launch_winter(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        campaign_id = get_campaign(session, "winter").id
    launch(runtime.sessions, campaign_id, settings=runtime.settings, by="Maria", now=NOW)


def test_segments_filter_in_the_database(runtime: Runtime) -> None:
    hoboken = patient(runtime, "P1", tags="lower-back,popping")
    weehawken = patient(runtime, "P2", office=Office.WEEHAWKEN, visited=NOW - timedelta(days=200))
    spanish = patient(runtime, "P3", language="es", tags="neck")
    assert segment_ids(runtime, offices=["Hoboken"]) == [hoboken, spanish]
    assert segment_ids(runtime, offices="Weehawken,Hoboken", tags=["popping"]) == [hoboken]
    assert segment_ids(runtime, not_seen_days=90) == [weehawken]
    assert segment_ids(runtime, visited_from="2026-10-01", visited_to="2026-10-31") == [
        hoboken,
        spanish,
    ]
    assert segment_ids(runtime, languages=["es"]) == [spanish]
    with transaction(runtime.sessions) as session:
        receive_sms(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            messages=[
                InboundSms("SM1", "+12015550001", "8/10"),
                InboundSms("SM2", "+12015550003", "2"),
            ],
            now=NOW - timedelta(days=1),
        )
    assert segment_ids(runtime, min_pain=7) == [hoboken]
    assert segment_ids(runtime, replied_since="2026-11-15") == [hoboken, spanish]
    assert segment_ids(runtime, not_replied_since="2026-11-15") == [weehawken]


def test_bad_segment_values_are_refused_with_the_field() -> None:
    with pytest.raises(InvalidInput, match="Newark"):
        Segment.parse(offices=["Newark"])
    with pytest.raises(InvalidInput, match="min_pain 11"):
        Segment.parse(min_pain=11)
    with pytest.raises(InvalidInput, match="not a date"):
        Segment.parse(visited_from="last week")


def test_preview_counts_and_exclusions_equal_what_launch_writes(runtime: Runtime) -> None:
    patient(runtime, "P1")
    revoked = patient(runtime, "P2")
    with transaction(runtime.sessions) as session:
        record_consents(
            session,
            session.get_one(Patient, revoked),
            {(Channel.SMS, Purpose.CAMPAIGN): False},
            source="STOP",
            by="patient",
        )
    patient(runtime, "P3", campaign={})  # never asked
    patient(runtime, "P6", campaign={Channel.SMS: False})  # said no at intake
    patient(runtime, "P4", phone="", email="p4@example.com")  # no phone
    gone = patient(runtime, "P5")
    with transaction(runtime.sessions) as session:
        discharge_patient(session, patient=session.get_one(Patient, gone), reason="moved away")
    campaign_id = new_campaign(runtime)
    shown = preview_winter(runtime)
    assert dict(shown.recipients) == {"sms": 1}
    assert dict(shown.excluded) == {
        "opted out (revoked)": 1,
        "no campaign consent on record (never asked)": 1,
        "said no when asked (never opted in)": 1,
        "no contact route": 1,
        "discharged": 1,
    }
    [sample] = shown.samples
    assert (sample.name, sample.channel, sample.language) == ("Pat", "sms", "en")
    assert (
        sample.body
        == "Hi Pat, winter tip from Spine & PT Clinic: keep moving every day. Reply STOP to opt out."
    )
    written = launch(runtime.sessions, campaign_id, settings=runtime.settings, by="Maria")
    again = launch(runtime.sessions, campaign_id, settings=runtime.settings, by="Maria")
    assert (written, again) == (1, 0)
    with runtime.sessions() as session:
        rows = session.scalars(select(Message).where(Message.campaign_id == campaign_id)).all()
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert [(m.channel, m.purpose) for m in rows] == [("sms", "campaign")]
    assert actions == ["create", "launch", "launched", "launch", "launched"]


def test_preferred_channel_campaign_falls_back_per_patient(runtime: Runtime) -> None:
    patient(runtime, "P1")
    patient(runtime, "P2", campaign={Channel.SMS: False, Channel.EMAIL: True})
    new_campaign(
        runtime,
        channel="preferred",
        email_subject="News from {{ clinic.name }}",
        email_text="Hi {{ patient.first_name }},\n\nOur Hoboken office is open on Saturdays.",
        sms_text="Hi {{ patient.first_name }}, our Hoboken office is open on Saturdays.",
    )
    shown = preview_winter(runtime)
    assert dict(shown.recipients) == {"sms": 1, "email": 1}


def test_a_name_is_unique(runtime: Runtime) -> None:
    new_campaign(runtime)
    with pytest.raises(InvalidInput, match="exists"):
        new_campaign(runtime)


def test_pause_resume_and_cancel_take_effect_at_the_next_tick(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    for n in range(1, 5):
        patient(live_runtime, f"P{n}")
    campaign_id = new_campaign(live_runtime, rate=1.0)  # one a second: 4 slots
    launch(live_runtime.sessions, campaign_id, settings=live_runtime.settings, by="Maria", now=NOW)
    tick(live_runtime, NOW + timedelta(seconds=1))  # the first two slots
    assert len(twilio_server.messages) == 2
    with transaction(live_runtime.sessions) as session:
        pause(session, get_campaign(session, "winter"), by="Maria")
    tick(live_runtime, NOW + timedelta(seconds=10))
    assert len(twilio_server.messages) == 2
    with transaction(live_runtime.sessions) as session:
        assert (
            resume(
                session,
                get_campaign(session, "winter"),
                by="Maria",
                now=NOW + timedelta(seconds=20),
            )
            == 2
        )
    tick(live_runtime, NOW + timedelta(seconds=20))  # the next slot, from the resume
    assert len(twilio_server.messages) == 3
    with transaction(live_runtime.sessions) as session:
        assert cancel(session, get_campaign(session, "winter"), by="Dr. Lee") == 1
    tick(live_runtime, NOW + timedelta(minutes=5))
    assert len(twilio_server.messages) == 3
    with live_runtime.sessions() as session:
        counts = progress(session, get_campaign(session, "winter"))
        actions = session.scalars(
            select(AuditEntry.actor + ":" + AuditEntry.action).order_by(AuditEntry.id)
        ).all()
    assert counts == {"cancelled": 1, "sent": 3}
    assert actions == [
        "Maria (front desk):create",
        "Maria:launch",
        "Maria:launched",
        "Maria:pause",
        "Maria:resume",
        "Dr. Lee:cancel",
    ]


def test_a_paused_campaign_gives_back_rows_already_claimed(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient(live_runtime, "P1")
    campaign_id = new_campaign(live_runtime)
    launch(live_runtime.sessions, campaign_id, settings=live_runtime.settings, by="Maria", now=NOW)
    [batch] = claim_due(
        live_runtime.sessions, now=NOW + timedelta(seconds=1), limit=10, batch_size=10
    )
    with transaction(live_runtime.sessions) as session:
        pause(session, get_campaign(session, "winter"), by="Maria")
    live_runtime.dispatcher(lambda: NOW + timedelta(seconds=1)).send_batch(batch.message_ids)
    assert twilio_server.messages == []
    with live_runtime.sessions() as session:
        row = session.scalars(select(Message).where(Message.campaign_id.is_not(None))).one()
    assert (row.status, row.last_error) == (MessageStatus.SCHEDULED, "campaign paused")


def test_plan_messages_and_alerts_are_claimed_before_campaigns(runtime: Runtime) -> None:
    patient(runtime, "P1")
    campaign_id = new_campaign(runtime)
    launch(runtime.sessions, campaign_id, settings=runtime.settings, by="Maria", now=NOW)
    with transaction(runtime.sessions) as session:
        plan = session.scalars(select(Message).where(Message.campaign_id.is_(None))).first()
        assert plan is not None
        plan.status, plan.due_at = MessageStatus.SCHEDULED, NOW + timedelta(seconds=5)
    [batch] = claim_due(runtime.sessions, now=NOW + timedelta(minutes=1), limit=1, batch_size=10)
    with runtime.sessions() as session:
        claimed = session.get_one(Message, batch.message_ids[0])
    assert claimed.campaign_id is None
