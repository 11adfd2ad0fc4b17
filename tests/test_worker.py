"""End to end: a real Celery worker on the real Redis, sending to real local servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from celery import Celery
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from followup.campaigns.launches import launch
from followup.campaigns.lifecycle import cancel, pause, progress
from followup.campaigns.names import get_campaign
from followup.config import Settings
from followup.db import transaction
from followup.models.outbox import Message, MessageStatus
from followup.runtime import Runtime, use
from followup.worker import create_celery, redis_eviction_warning
from tests.campaigns.test_lifecycle import new_campaign, patient
from tests.conftest import REDIS_URL, SmtpRecorder, add_patient, enrol_visit, live_settings
from tests.peers.twilio_server import TwilioPeer


@pytest.fixture
def celery_app(
    settings: Settings,
    redis: redis_lib.Redis,
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> Iterator[tuple[Celery, Runtime]]:
    live = live_settings(settings, twilio_server, smtp_server[0], redis_url=REDIS_URL)
    runtime = Runtime(live)
    app = create_celery(live, runtime)
    yield app, runtime
    use(None)


def wait_for(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_worker_sends_due_sms_and_email_through_real_servers(
    celery_app: tuple[Celery, Runtime],
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> None:
    app, runtime = celery_app
    from followup.tasks import dispatch_due

    sms_patient = add_patient(runtime, "P1")
    email_patient = add_patient(
        runtime, "P2", phone="+12015550112", email="b@example.com", preferred="email"
    )
    enrol_visit(runtime, sms_patient, ref="V1")
    enrol_visit(runtime, email_patient, ref="V2")
    with runtime.sessions() as session:
        first_due = session.scalar(select(Message.due_at).order_by(Message.due_at).limit(1))
    assert first_due is not None

    def sent() -> list[Message]:
        with runtime.sessions() as session:
            return list(
                session.scalars(select(Message).where(Message.status == MessageStatus.SENT))
            )

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        dispatch_due.delay(first_due.isoformat())
        assert wait_for(lambda: len(sent()) == 2)
        # The same tick delivered again (e.g. after a broker redelivery) sends nothing new.
        dispatch_due.delay(first_due.isoformat())
        time.sleep(1)

    assert [m["to"] for m in twilio_server.messages] == ["+12015550111"]
    assert [e.rcpt_tos for e in smtp_server[1].envelopes] == [["b@example.com"]]
    assert {m.channel for m in sent()} == {"sms", "email"}


def test_celery_policy_is_safe_for_redelivery(celery_app: tuple[Celery, Runtime]) -> None:
    conf = celery_app[0].conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.timezone == "UTC" and conf.enable_utc
    assert conf.broker_url == REDIS_URL
    assert not conf.task_always_eager


def test_worker_warns_when_redis_may_evict_keys(redis: redis_lib.Redis) -> None:
    original = redis.config_get("maxmemory-policy")["maxmemory-policy"]
    try:
        redis.config_set("maxmemory-policy", "allkeys-lru")
        warning = redis_eviction_warning(REDIS_URL)
        assert warning is not None and "allkeys-lru" in warning
        redis.config_set("maxmemory-policy", "noeviction")
        assert redis_eviction_warning(REDIS_URL) is None
    finally:
        redis.config_set("maxmemory-policy", str(original))


def test_a_campaign_paused_and_cancelled_mid_way_with_a_real_worker(
    settings: Settings,
    redis: redis_lib.Redis,
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> None:
    from followup.tasks import dispatch_due

    live = live_settings(
        settings,
        twilio_server,
        smtp_server[0],
        redis_url=REDIS_URL,
        quiet_hours_start=clock(0),
        quiet_hours_end=clock(23, 59, 59),
    )
    runtime = Runtime(live)
    app = create_celery(live, runtime)
    for n in range(1, 5):
        patient(runtime, f"P{n}")
    now = datetime.now(UTC)
    campaign_id = new_campaign(runtime, rate=1.0, start_at=now)
    launch(runtime.sessions, campaign_id, settings=live, by="Maria", now=now)

    def sent() -> int:
        with runtime.sessions() as session:
            return progress(session, get_campaign(session, "winter")).get("sent", 0)

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        dispatch_due.delay((now + timedelta(seconds=1.5)).isoformat())
        assert wait_for(lambda: sent() == 2)
        with transaction(runtime.sessions) as session:
            pause(session, get_campaign(session, "winter"), by="Maria")
        dispatch_due.delay((now + timedelta(seconds=10)).isoformat())
        time.sleep(1)
        assert sent() == 2
        with transaction(runtime.sessions) as session:
            assert cancel(session, get_campaign(session, "winter"), by="Maria") == 2
        dispatch_due.delay((now + timedelta(minutes=5)).isoformat())
        time.sleep(1)
    with runtime.sessions() as session:
        assert progress(session, get_campaign(session, "winter")) == {"cancelled": 2, "sent": 2}
    assert len(twilio_server.messages) == 2
    use(None)


def test_an_emergency_reaches_on_call_escalates_and_stops_when_acknowledged(
    settings: Settings,
    redis: redis_lib.Redis,
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> None:
    from followup.models.outbox import Purpose
    from followup.models.replies import Alert, AlertEvent
    from followup.replies.alerts import acknowledge
    from followup.replies.inbound_sms import InboundSms, receive_sms
    from followup.tasks import dispatch_due, escalate_alerts

    live = live_settings(
        settings,
        twilio_server,
        smtp_server[0],
        redis_url=REDIS_URL,
        oncall_sms="+12015550900",
        oncall_emails="oncall@clinic.example",
        escalation_sms="+12015550901",
    )
    runtime = Runtime(live)
    app = create_celery(live, runtime)
    patient = add_patient(runtime, "P1")
    enrol_visit(runtime, patient)
    replied = datetime(2026, 11, 16, 16, 0, tzinfo=UTC)  # the visit day, 11:00 in New York
    with transaction(runtime.sessions) as session:
        [received] = receive_sms(
            session,
            settings=live,
            renderer=runtime.renderer,
            messages=[InboundSms("SM1", "+12015550111", "since this morning i cant pee at all")],
            now=replied,
        )
    assert received.reading.triage == "emergency" and received.alerted

    def staff_texts(to: str) -> list[str]:
        return twilio_server.bodies_to(to)

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        dispatch_due.delay((replied + timedelta(seconds=1)).isoformat())
        assert wait_for(lambda: len(staff_texts("+12015550900")) == 1)
        assert wait_for(lambda: len(smtp_server[1].envelopes) == 1)
        # Not acknowledged after 15 minutes: told again; after 30: the second tier too.
        for minutes in (16, 32):
            at = replied + timedelta(minutes=minutes)
            escalate_alerts.delay(at.isoformat())
            time.sleep(0.5)
            dispatch_due.delay((at + timedelta(seconds=1)).isoformat())
        assert wait_for(lambda: len(staff_texts("+12015550901")) == 1)
        assert wait_for(lambda: len(staff_texts("+12015550900")) == 3)
        with transaction(runtime.sessions) as session:
            [alert] = session.scalars(select(Alert)).all()
            acknowledge(session, alert_id=alert.id, by="Dr. Lee", now=replied, note="called")
        later = replied + timedelta(days=2, hours=1)  # the welcome and day-2 texts are due
        escalate_alerts.delay(later.isoformat())
        dispatch_due.delay((later + timedelta(seconds=1)).isoformat())
        time.sleep(1.5)

    assert len(staff_texts("+12015550900")) == 3 and len(staff_texts("+12015550901")) == 1
    assert "REMINDER" in staff_texts("+12015550900")[1]
    assert "ESCALATED" in staff_texts("+12015550901")[0]
    # The patient's series is paused: not one plan text went out, though several were due.
    assert staff_texts("+12015550111") == []
    with runtime.sessions() as session:
        held = session.scalars(
            select(Message).where(
                Message.purpose == Purpose.CARE,
                Message.due_at <= later,
                Message.patient_id == patient.id,
            )
        ).all()
        history = [e.action for e in session.scalars(select(AlertEvent).order_by(AlertEvent.id))]
    assert held and {m.status for m in held} == {MessageStatus.SCHEDULED}
    assert history == ["notified", "repeated", "escalated", "acknowledged"]
    use(None)
