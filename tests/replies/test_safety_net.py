"""The human loop: truthful answers, pain trends, paused series and escalation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.care.clinic_hours import ClinicHours
from followup.care.series import resume_series
from followup.config import Settings
from followup.db import transaction
from followup.delivery.claims import claim_due
from followup.exceptions import InvalidInput
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.replies import Alert, AlertEvent, Reply
from followup.replies.alerts import acknowledge, raise_alerts
from followup.replies.escalation import LAST_STEP, escalate_due
from followup.replies.inbound_sms import InboundSms, receive_sms
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import VISIT, add_patient, enrol_visit
from tests.web.test_web import PUBLIC, signed_post

MONDAY_NOON = datetime(2026, 11, 16, 17, 0, tzinfo=UTC)  # 12:00 in New York


def receive(
    runtime: Runtime, body: str, sid: str, at: datetime, settings: Settings | None = None
) -> None:
    with transaction(runtime.sessions) as session:
        receive_sms(
            session,
            settings=settings or runtime.settings,
            renderer=runtime.renderer,
            messages=[InboundSms(sid, "+12015550111", body)],
            now=at,
        )


def alerts(runtime: Runtime) -> list[Alert]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def notices(runtime: Runtime) -> list[tuple[str | None, str | None]]:
    with runtime.sessions() as session:
        found = session.scalars(
            select(Message).where(Message.purpose == Purpose.ALERT).order_by(Message.id)
        )
        return [(m.recipient, m.body) for m in found]


def events(runtime: Runtime, alert_id: int) -> list[str]:
    with runtime.sessions() as session:
        found = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id))
        return [e.action for e in found]


@pytest.fixture
def lone_client(runtime: Runtime) -> Iterator[TestClient]:
    """The web app with no on-call route at all (development defaults)."""
    rt = Runtime(runtime.settings.with_overrides(public_url=PUBLIC, twilio_auth_token="t" * 32))
    with TestClient(create_app(rt), base_url=PUBLIC) as client:
        yield client
    rt.close()


def test_with_nobody_on_call_the_patient_is_not_told_staff_were_alerted(
    runtime: Runtime, lone_client: TestClient
) -> None:
    add_patient(runtime)

    def text(body: str, sid: str) -> Any:
        params = {"MessageSid": sid, "From": "+12015550111", "To": "+12015550199", "Body": body}
        return signed_post(lone_client, "/twilio/sms", params, token="t" * 32)

    emergency = text("I cant feel anything between my legs", "SM1")
    attention = text("sharp stabbing pain today", "SM2")
    assert "Call 911 or go to the nearest emergency room now" in emergency.text
    assert "alerted" not in emergency.text
    assert "Please call" in attention.text and "alerted" not in attention.text
    [first, second] = alerts(runtime)
    assert first.notified_at is None and second.notified_at is None
    assert events(runtime, first.id) == ["nobody notified"]


def test_a_rising_score_or_a_second_seven_raises_an_alert(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    receive(runtime, "2", "SM1", VISIT + timedelta(days=1))
    receive(runtime, "about a 4 today, feeling ok", "SM2", VISIT + timedelta(days=2))
    receive(runtime, "6 today", "SM3", VISIT + timedelta(days=3))
    receive(runtime, "its an 8", "SM4", VISIT + timedelta(days=4))
    receive(runtime, "7", "SM5", VISIT + timedelta(days=5))
    with runtime.sessions() as session:
        found = session.scalars(select(Reply).order_by(Reply.id)).all()
    assert [(r.pain, r.triage) for r in found] == [
        (2, "routine"),
        (4, "routine"),
        (6, "routine"),
        (8, "attention"),
        (7, "attention"),
    ]
    assert found[3].reasons == "pain score 8"  # 6 to 8 is no rise of 3; 8 is 7+ itself
    assert found[4].reasons == "pain score 7; pain 7 again after an earlier 7 or more"


def test_a_rise_of_three_points_is_attention_even_when_the_text_is_routine(
    runtime: Runtime,
) -> None:
    enrol_visit(runtime, add_patient(runtime))
    receive(runtime, "1", "SM1", VISIT + timedelta(days=1))
    receive(runtime, "was 1 yesterday, 4 now, thanks", "SM2", VISIT + timedelta(days=2))
    with runtime.sessions() as session:
        rose = session.scalars(select(Reply).where(Reply.provider_id == "SM2")).one()
    assert (rose.pain, rose.triage, rose.reasons) == (4, "attention", "pain rose from 1 to 4")
    assert len(alerts(runtime)) == 1


def test_an_alert_pauses_the_series_until_staff_resume_it(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    receive(runtime, "my legs keep giving way", "SM1", VISIT + timedelta(hours=1))
    later = VISIT + timedelta(days=2)  # within the pause (72 hours by default)
    assert claim_due(runtime.sessions, now=later, limit=100, batch_size=10) == []
    with runtime.sessions() as session:
        pending = session.scalars(
            select(Message).where(Message.purpose == Purpose.CARE, Message.due_at <= later)
        ).all()
    # Held back: every due plan message is still scheduled, none claimed.
    assert pending and {m.status for m in pending} == {MessageStatus.SCHEDULED}
    with pytest.raises(InvalidInput, match="who resumes"), transaction(runtime.sessions) as s:
        resume_series(s, patient_id=patient.id, by="", reason="", now=later)
    with transaction(runtime.sessions) as session:
        resume_series(
            session, patient_id=patient.id, by="Dr. Lee", reason="called, fine", now=later
        )
    claimed = claim_due(runtime.sessions, now=later, limit=100, batch_size=100)
    assert sum(len(b.message_ids) for b in claimed) == len(pending)


def test_an_unacknowledged_alert_is_repeated_then_escalated_then_stops(
    runtime: Runtime,
) -> None:
    settings = runtime.settings.with_overrides(
        oncall_sms="+12015550900", escalation_emails="manager@clinic.example"
    )
    patient = add_patient(runtime)
    receive_at = MONDAY_NOON
    receive(runtime, "i fell down the stairs", "SM1", receive_at, settings)
    [alert] = alerts(runtime)
    assert alert.escalate_at == receive_at + timedelta(minutes=15)

    def escalate(at: datetime) -> int:
        with transaction(runtime.sessions) as session:
            return escalate_due(session, settings=settings, renderer=runtime.renderer, now=at)

    assert escalate(receive_at + timedelta(minutes=14)) == 0
    assert escalate(receive_at + timedelta(minutes=15)) == 1
    assert escalate(receive_at + timedelta(minutes=15)) == 0  # the same tick twice: once
    assert escalate(receive_at + timedelta(minutes=31)) == 1
    sent = notices(runtime)
    assert [to for to, _ in sent] == [
        "+12015550900",
        "+12015550900",
        "+12015550900",
        "manager@clinic.example",
    ]
    assert "REMINDER" in (sent[1][1] or "") and "ESCALATED" in (sent[2][1] or "")
    with transaction(runtime.sessions) as session:
        acknowledge(session, alert_id=alert.id, by="Dr. Lee", now=receive_at, note="called")
    assert escalate(receive_at + timedelta(hours=5)) == 0
    assert events(runtime, alert.id) == ["notified", "repeated", "escalated", "acknowledged"]
    assert patient.id == alerts(runtime)[0].patient_id


def test_reminders_end_after_the_last_step(runtime: Runtime) -> None:
    settings = runtime.settings.with_overrides(oncall_sms="+12015550900")
    add_patient(runtime)
    receive(runtime, "my bladder leaks and I cant feel it", "SM1", MONDAY_NOON, settings)
    at = MONDAY_NOON
    for _ in range(LAST_STEP + 3):
        at += timedelta(minutes=16)
        with transaction(runtime.sessions) as session:
            escalate_due(session, settings=settings, renderer=runtime.renderer, now=at)
    [alert] = alerts(runtime)
    assert (alert.escalation_step, alert.escalate_at) == (LAST_STEP, None)
    assert len(notices(runtime)) == 1 + LAST_STEP


def test_attention_alerts_escalate_in_clinic_hours() -> None:
    settings = Settings(escalate_attention_minutes=120)
    hours = ClinicHours.from_settings(settings)
    friday_5pm = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # 17:00 in New York
    # One hour left on Friday, the other hour on Monday morning.
    assert hours.after_open_time(friday_5pm, timedelta(hours=2)) == datetime(
        2026, 11, 23, 14, 0, tzinfo=UTC
    )
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert hours.next_open(saturday) == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert hours.is_open(MONDAY_NOON) and not hours.is_open(saturday)


def test_acknowledging_twice_or_without_a_name_is_refused(runtime: Runtime) -> None:
    add_patient(runtime)
    receive(runtime, "fever and my back is killing me", "SM1", MONDAY_NOON)
    [alert] = alerts(runtime)
    with pytest.raises(InvalidInput, match="who acknowledges"), transaction(runtime.sessions) as s:
        acknowledge(s, alert_id=alert.id, by=" ", now=MONDAY_NOON)
    with transaction(runtime.sessions) as session:
        acknowledge(session, alert_id=alert.id, by="Ana", now=MONDAY_NOON)
    with pytest.raises(InvalidInput, match="already"), transaction(runtime.sessions) as s:
        acknowledge(s, alert_id=alert.id, by="Ana", now=MONDAY_NOON)


def test_a_reply_that_already_has_its_alert_gets_no_second_one(runtime: Runtime) -> None:
    add_patient(runtime)
    receive(runtime, "fever and my back is killing me", "SM1", MONDAY_NOON)
    with transaction(runtime.sessions) as session:
        reply = session.scalars(select(Reply)).one()
        again = raise_alerts(
            session,
            [(reply, reply.patient_id or 0)],
            settings=runtime.settings.with_overrides(oncall_sms="+12015550900"),
            renderer=runtime.renderer,
            now=MONDAY_NOON,
        )
    assert again == set() and len(alerts(runtime)) == 1 and notices(runtime) == []
