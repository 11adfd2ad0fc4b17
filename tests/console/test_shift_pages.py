"""The console's record of a shift, without a browser: what the patient was told,
one state between alerts and the inbox, closed alerts, repeated answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.db import transaction
from followup.models.base import Channel, utcnow
from followup.models.care import Patient
from followup.models.replies import Alert, Reply
from followup.models.staff import Role
from followup.replies.alerts import acknowledge
from followup.replies.closed_alerts import ClosedAlert, alerts_statement
from followup.replies.conversations import same_answer_waiting, thread
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC
from tests.console.test_console import form_token, make_staff, sign_in
from tests.web.test_web import sent_welcome, sms


@pytest.fixture
def console(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as client:
        yield client


def test_the_automatic_answer_is_recorded_once_and_shown_in_the_conversation(
    web_runtime: Runtime, console: TestClient
) -> None:
    sent_welcome(web_runtime)
    first = sms(console, "I can't feel my legs", sid="SMq1")
    again = sms(console, "I can't feel my legs", sid="SMq1")  # Twilio retries
    assert "Call 911" in first.text and first.text == again.text
    with web_runtime.sessions() as session:
        reply = session.scalars(select(Reply)).one()
        entries = thread(session, reply.patient_id or 0)
    assert reply.answer is not None and reply.answer.startswith("Call 911")
    automatic = [e for e in entries if e.automatic]
    assert [e.text for e in automatic] == [reply.answer]
    # Right after the text it answers.
    assert entries[entries.index(automatic[0]) - 1].text == "I can't feel my legs"
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sign_in(console, "lee")
    page = console.get("/console/patients/P1/conversation").text
    assert "<strong>automatic</strong> answer" in page


def test_acknowledging_handles_the_reply_and_the_alert_is_closed(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        patient = Patient(ref="P9", first_name="Pat", last_name="Doe", timezone="UTC")
        session.add(patient)
        session.flush()
        reply = Reply(
            provider_id="SMk",
            channel="sms",
            from_address="+12015550111",
            patient_id=patient.id,
            body="numb",
            triage="emergency",
            received_at=utcnow(),
        )
        session.add(reply)
        session.flush()
        alert = Alert(
            reply_id=reply.id, patient_id=patient.id, level="emergency", created_at=utcnow()
        )
        session.add(alert)
        session.flush()
        alert_id, reply_id = alert.id, reply.id
    with transaction(runtime.sessions) as session:
        acknowledge(session, alert_id=alert_id, by="lee", now=utcnow(), note="called")
    with runtime.sessions() as session:
        handled = session.get_one(Reply, reply_id)
        assert handled.handled_by == "lee" and handled.handled_at is not None
        lees = session.execute(alerts_statement(level="emergency", by="lee")).all()
        assert [ClosedAlert.of(row).id for row in lees] == [alert_id]
        assert session.execute(alerts_statement(level="attention")).all() == []
        assert session.execute(alerts_statement(since=utcnow() + timedelta(days=1))).all() == []


def test_the_closed_view_refuses_a_level_or_date_it_does_not_know(
    web_runtime: Runtime, console: TestClient
) -> None:
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    assert console.get("/console/alerts/closed").status_code == 200
    assert console.get("/console/alerts/closed?level=bogus").status_code == 400
    assert console.get("/console/alerts/closed?since=yesterday").status_code == 400


def test_a_second_identical_answer_is_asked_about_then_sent_on_confirmation(
    web_runtime: Runtime, console: TestClient
) -> None:
    sent_welcome(web_runtime)
    make_staff(web_runtime, "maria", Role.STAFF)
    sign_in(console, "maria")
    page = console.get("/console/patients/P1/conversation")
    data = {"csrf": form_token(page.text), "channel": "sms", "text": "See you Friday."}
    sent = console.post("/console/patients/P1/answer", data=data, follow_redirects=False)
    assert sent.status_code == 303 and "sent=" in sent.headers["location"]
    assert "Your answer is queued" in console.get(sent.headers["location"]).text
    asked = console.post("/console/patients/P1/answer", data=data)
    assert asked.status_code == 409 and "The same answer was already queued" in asked.text
    console.post("/console/patients/P1/answer", data=data | {"again": "yes"})
    other = console.post("/console/patients/P1/answer", data=data | {"text": "Call us."})
    assert other.status_code == 200  # different words: no question
    with web_runtime.sessions() as session:
        patient = session.scalars(select(Patient)).one()
        entries = [e for e in thread(session, patient.id) if e.note == "staff answer"]
        waiting = same_answer_waiting(
            session,
            patient=patient,
            channel=Channel.EMAIL,
            text="See you Friday.",
            since=utcnow() - timedelta(days=1),
        )
    starts = [e.text.startswith("See you Friday.") for e in entries]
    assert starts == [True, True, False] and all(e.waiting for e in entries)
    assert waiting is None  # by email it would be another answer
