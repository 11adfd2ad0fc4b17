"""The safety net end to end, with a real Celery worker on the real Redis sending to the
Twilio-compatible server and the SMTP server: keywords that carry red flags, unknown
numbers, thoughts of self-harm, and opt-outs written in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from celery import Celery
from celery.contrib.testing.worker import start_worker
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.care.patients import has_consent
from followup.config import Settings
from followup.models.base import Channel
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.replies import Alert, Reply
from followup.runtime import Runtime, use
from followup.web.app import create_app
from followup.worker import create_celery
from tests.conftest import (
    PUBLIC,
    REDIS_URL,
    SmtpRecorder,
    add_patient,
    enrol_visit,
    live_settings,
    tick,
)
from tests.peers.twilio_server import TwilioPeer
from tests.test_worker import wait_for
from tests.web.test_web import signed_post

ONCALL_SMS, ONCALL_EMAIL = "+12015550900", "oncall@clinic.example"
PATIENT, STRANGER = "+12015550111", "+12015550777"


@pytest.fixture
def clinic(
    settings: Settings,
    redis: redis_lib.Redis,
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> Iterator[tuple[Runtime, Celery, TestClient]]:
    """The web app and a Celery app on one runtime, with on-call routes."""
    live = live_settings(
        settings,
        twilio_server,
        smtp_server[0],
        redis_url=REDIS_URL,
        public_url=PUBLIC,
        oncall_sms=ONCALL_SMS,
        oncall_emails=ONCALL_EMAIL,
        twilio_answers_keywords=True,
    )
    runtime = Runtime(live)
    with TestClient(create_app(runtime), base_url=PUBLIC) as client:
        yield runtime, create_celery(live, runtime), client
    use(None)
    runtime.close()


def text(client: TestClient, body: str, *, sid: str, sender: str = PATIENT) -> list[str]:
    """Post an inbound SMS the way Twilio does; the answers in the TwiML."""
    params = {"MessageSid": sid, "From": sender, "To": "+12015550199", "Body": body}
    response = signed_post(client, "/twilio/sms", params)
    assert response.status_code == 200
    return re.findall(r"<Message>(.*?)</Message>", response.text, re.DOTALL)


def alerts(runtime: Runtime) -> list[Alert]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def reply(runtime: Runtime, sid: str) -> Reply:
    with runtime.sessions() as session:
        return session.scalars(select(Reply).where(Reply.provider_id == sid)).one()


def notified(app: Celery, twilio_server: TwilioPeer, smtp: SmtpRecorder, alert_count: int) -> None:
    """Run the worker until every alert's SMS and email reached the on-call staff."""
    from followup.tasks import dispatch_due

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        dispatch_due.delay((datetime.now(UTC) + timedelta(seconds=1)).isoformat())
        assert wait_for(
            lambda: (
                len(twilio_server.bodies_to(ONCALL_SMS)) == alert_count
                and len(smtp.envelopes) == alert_count
            )
        )


def test_stop_with_a_red_flag_revokes_consent_and_raises_the_alert(
    clinic: tuple[Runtime, Celery, TestClient],
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> None:
    runtime, app, client = clinic
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    [answer] = text(client, "STOP texting me, I can't feel my legs", sid="SM1")
    assert "Call 911" in answer and "You will not get more texts" in answer
    with runtime.sessions() as session:
        assert not has_consent(session, patient.id, Channel.SMS, Purpose.CARE)
        assert not has_consent(session, patient.id, Channel.SMS, Purpose.CAMPAIGN)
    [alert] = alerts(runtime)
    assert (alert.level, alert.patient_id) == ("emergency", patient.id)
    stored = reply(runtime, "SM1")
    assert (stored.keyword, stored.triage) == ("stop", "emergency")
    assert "rules" in stored.readers.split() and stored.model_probability is not None
    notified(app, twilio_server, smtp_server[1], 1)
    assert f"alert #{alert.id}" in twilio_server.bodies_to(ONCALL_SMS)[0]
    assert smtp_server[1].envelopes[0].rcpt_tos == [ONCALL_EMAIL]
    assert twilio_server.bodies_to(PATIENT) == []  # the answer went back in the TwiML only


def test_an_unknown_numbers_emergency_alerts_staff_and_is_answered_in_both_languages(
    clinic: tuple[Runtime, Celery, TestClient],
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> None:
    runtime, app, client = clinic
    add_patient(runtime)
    [answer] = text(
        client,
        "this is her husband, she cant move her legs and she wet herself",
        sid="SM1",
        sender=STRANGER,
    )
    english, spanish = answer.split("\n")
    assert "Call 911" in english and "Llame al 911" in spanish
    [alert] = alerts(runtime)
    assert (alert.level, alert.patient_id) == ("emergency", None)
    notified(app, twilio_server, smtp_server[1], 1)
    # Staff see the number and the text in the console.
    page = client.get(f"/console/alerts/{alert.id}")
    assert page.status_code in (200, 303, 401, 403)  # behind sign-in
    from followup.replies.alerts import view_alert
    from followup.replies.open_alerts import open_alerts

    with runtime.sessions() as session:
        [listed] = open_alerts(session)
        view = view_alert(session, alert.id)
    assert (listed.patient_ref, listed.phone) == (None, STRANGER)
    assert "wet herself" in listed.reply
    assert view is not None and view.patient is None and view.reply.from_address == STRANGER


def test_thoughts_of_self_harm_get_988_and_911_and_an_emergency_alert(
    clinic: tuple[Runtime, Celery, TestClient],
    twilio_server: TwilioPeer,
    smtp_server: tuple[Controller, SmtpRecorder],
) -> None:
    runtime, app, client = clinic
    add_patient(runtime)
    [answer] = text(
        client,
        "honestly i dont see the point anymore. everyone would be better off without me",
        sid="SM1",
    )
    assert "911" in answer and "call or text 988" in answer
    add_patient(runtime, "P2", phone="+12015550112", language="es")
    [respuesta] = text(
        client, "ya no quiero seguir viviendo con este dolor", sid="SM2", sender="+12015550112"
    )
    assert "911" in respuesta and "988" in respuesta and "AYUDA" in respuesta
    assert [a.level for a in alerts(runtime)] == ["emergency", "emergency"]
    notified(app, twilio_server, smtp_server[1], 2)


def test_a_spanish_revocation_in_words_stops_every_text_with_one_confirmation(
    clinic: tuple[Runtime, Celery, TestClient], twilio_server: TwilioPeer
) -> None:
    runtime, _, client = clinic
    patient = add_patient(runtime, language="es")
    enrol_visit(runtime, patient)
    [confirmation] = text(client, "ya no quiero mensajes", sid="SM1")
    assert confirmation.startswith("No recibira mas mensajes")
    assert text(client, "BASTA DE MENSAJES", sid="SM2") == []  # one confirmation only
    assert alerts(runtime) == []
    with runtime.sessions() as session:
        planned = session.scalars(select(Message).where(Message.patient_id == patient.id)).all()
    tick(runtime, max(m.due_at for m in planned) + timedelta(minutes=1))
    assert twilio_server.bodies_to(PATIENT) == []
    with runtime.sessions() as session:
        statuses = {m.status for m in session.scalars(select(Message)).all()}
    assert statuses == {MessageStatus.CANCELLED}  # cancelled when consent was revoked


def test_an_emergency_only_the_model_read_is_honest_about_the_doubt(
    clinic: tuple[Runtime, Celery, TestClient],
) -> None:
    runtime, _, client = clinic
    add_patient(runtime)
    [answer] = text(client, "cantfeelmylegs", sid="SM1")
    assert "We are not sure from your message" in answer and "Call 911 now if" in answer
    assert "call or text 988" in answer and "A clinician has been told and will call you" in answer
    stored = reply(runtime, "SM1")
    assert stored.readers == "model" and (stored.model_probability or 0) >= 0.2
    [alert] = alerts(runtime)
    assert alert.level == "emergency"


def test_an_unclear_request_gets_one_clarifying_text_and_stays_in_the_inbox(
    clinic: tuple[Runtime, Celery, TestClient],
) -> None:
    runtime, _, client = clinic
    patient = add_patient(runtime)
    [answer] = text(client, "how do I make these stop?", sid="SM1")
    assert answer.startswith("Reply STOP to end texts from")
    with runtime.sessions() as session:
        assert has_consent(session, patient.id, Channel.SMS, Purpose.CARE)
    stored = reply(runtime, "SM1")
    assert (stored.keyword, stored.triage, stored.handled_at) == ("unsure", "routine", None)


def test_look_alikes_are_not_opt_outs(clinic: tuple[Runtime, Celery, TestClient]) -> None:
    runtime, _, client = clinic
    patient = add_patient(runtime)
    [answer] = text(client, "I had to stop the exercises, pain is 7", sid="SM1")
    assert "Thank you for telling us" in answer
    [crash] = text(client, "ran a stop sign and t-boned my car", sid="SM2")
    assert "Call 911" in crash and "You will not get more texts" not in crash
    with runtime.sessions() as session:
        assert has_consent(session, patient.id, Channel.SMS, Purpose.CARE)
    assert [a.level for a in alerts(runtime)] == ["attention", "emergency"]
