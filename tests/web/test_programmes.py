"""Reminders that name the exercises, the signed page of instructions, DONE by text and
by one tap, and the next-appointment reminder answered by C or R: through the web app,
the real Twilio-compatible server and SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.care.programs import parse_program
from followup.care.visits import record_visit
from followup.config import PROJECT_ROOT
from followup.content.encoding import sms_shape
from followup.db import transaction
from followup.models.base import utcnow
from followup.models.care import Office, Patient, Visit
from followup.models.outbox import Message, MessageStatus
from followup.models.programs import ExerciseReport
from followup.models.replies import Alert, Reply
from followup.models.staff import AuditEntry
from followup.runtime import Runtime
from followup.staff.members import add_staff, issue_token
from followup.web.app import create_app
from tests.conftest import PUBLIC, VISIT, SmtpRecorder, add_patient, altered, tick
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_api import auth
from tests.web.test_web import sms

LIBRARY = PROJECT_ROOT / "plans" / "exercises"
ANA = "+12015550111"
NY = ZoneInfo("America/New_York")


@pytest.fixture
def client(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as test_client:
        yield test_client


def assign(
    runtime: Runtime,
    patient: Patient,
    program: str | None,
    *,
    ref: str = "V1",
    at: datetime = VISIT,
    booked: datetime | None = None,
) -> None:
    with transaction(runtime.sessions) as session:
        record_visit(
            session,
            settings=runtime.settings,
            ref=ref,
            patient=session.get_one(Patient, patient.id),
            office=Office.HOBOKEN,
            clinician="Dr. Rivera",
            visited_at=at,
            next_appointment_at=booked,
            exercises=parse_program(program, LIBRARY) if program else None,
            now=at,
        )


def message(runtime: Runtime, step: str) -> Message:
    with runtime.sessions() as session:
        found = session.scalars(select(Message).where(Message.step.startswith(step))).first()
        assert found is not None, step
        return found


def reports(runtime: Runtime) -> list[ExerciseReport]:
    with runtime.sessions() as session:
        return list(session.scalars(select(ExerciseReport).order_by(ExerciseReport.id)))


def emails(smtp_server: tuple[object, SmtpRecorder]) -> list[EmailMessage]:
    found = []
    for envelope in smtp_server[1].envelopes:
        email = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        assert isinstance(email, EmailMessage)
        found.append(email)
    return found


def text_part(email: EmailMessage, subtype: str = "plain") -> str:
    body = email.get_body((subtype,))
    assert body is not None
    return str(body.get_content())


def test_the_exercise_reminders_name_the_exercises_and_link_to_their_instructions(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient
) -> None:
    ana = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, ana, "bridge:2x10,walk:15min,knee-to-chest")
    walk(web_runtime, VISIT + timedelta(days=8))
    texts = twilio_server.bodies_to(ANA)
    keep_moving, stay_active = texts[1], texts[3]
    for text in (keep_moving, stay_active):
        assert "Bridge 2x10, Walk 15 min, Knee to chest 3x20s." in text
        assert "Reply DONE when you have done them." in text
        shape = sms_shape(text)
        assert shape.encoding == "GSM-7" and shape.segments <= 2
        assert "popping" not in text.lower() and "osteoarthritis" not in text.lower()
    # Each reminder's own signed link opens the instructions without signing in.
    link = re.search(rf"{re.escape(PUBLIC)}(/x/\S+)", keep_moving)
    assert link is not None
    page = client.get(link.group(1))
    assert page.status_code == 200
    assert "Squeeze your buttocks and lift your hips off the floor." in page.text
    assert "2 sets of 10, once a day" in page.text and "15 minutes, once a day" in page.text
    assert "Stop if it causes sharp pain or numbness." in page.text
    assert "Call 911" in page.text and "bladder or bowels" in page.text
    assert client.get(altered(link.group(1))).status_code == 400  # altered: refused


def test_a_visit_without_exercises_keeps_the_general_reminder(
    web_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    assign(web_runtime, add_patient(web_runtime, phone=ANA), None)
    walk(web_runtime, VISIT + timedelta(days=3))
    keep_moving = twilio_server.bodies_to(ANA)[1]
    assert "do the exercises from your visit today" in keep_moving
    assert "/x/" not in keep_moving and "DONE" not in keep_moving


def test_an_email_reminder_lists_the_steps_and_a_tap_records_done_once_a_day(
    web_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder], client: TestClient
) -> None:
    pat = add_patient(web_runtime, preferred="email", language="es")
    assign(web_runtime, pat, "bird-dog:2x8/2,walk:20min")
    walk(web_runtime, VISIT + timedelta(days=3))
    reminder = emails(smtp_server)[1]
    plain, html = text_part(reminder), text_part(reminder, "html")
    assert "Perro de caza: 2 series de 8, 2 veces al día." in plain
    assert "Estire un brazo hacia adelante." in plain
    assert "<strong>Caminar</strong>: 20 minutos" in html
    assert "ejercicio" not in str(reminder["Subject"]).lower()
    done = re.search(rf"{re.escape(PUBLIC)}(/d/\S+)", plain)
    assert done is not None
    confirm = client.get(done.group(1))
    assert confirm.status_code == 200 and "Sí, los hice hoy" in confirm.text
    assert reports(web_runtime) == []  # a mail scanner's GET records nothing
    thanks = client.post(done.group(1))
    client.post(done.group(1))
    assert "Anotamos que hizo sus ejercicios hoy" in thanks.text
    [report] = reports(web_runtime)
    assert (report.channel, report.patient_id) == ("email", pat.id)
    assert report.day == utcnow().astimezone(NY).date()


def test_done_by_text_is_recorded_once_a_day_and_never_hides_a_red_flag(
    web_runtime: Runtime, client: TestClient
) -> None:
    ana = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, ana, "bridge:2x10")
    walk(web_runtime, VISIT + timedelta(days=3))
    assert sms(client, "DONE", sid="SM1").status_code == 200
    assert len(reports(web_runtime)) == 1
    answer = sms(client, "done but my legs went numb", sid="SM2")
    sms(client, "HECHO pero me dolió mucho la pierna", sid="SM3")
    with web_runtime.sessions() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        replies = session.scalars(select(Reply).order_by(Reply.id)).all()
    assert replies[0].triage == "routine"
    assert all(r.triage in ("attention", "emergency") for r in replies[1:])
    assert [a.reply_id for a in alerts] == [replies[1].id, replies[2].id]
    assert "Thank you, we got your message" not in answer.text  # answered as a warning sign
    assert len(reports(web_runtime)) == 1  # the same day: still one


@pytest.mark.parametrize("body", ["not done", "no lo hice", "did not do them", "7", "C"])
def test_what_is_not_a_done_records_nothing(
    web_runtime: Runtime, client: TestClient, body: str
) -> None:
    assign(web_runtime, add_patient(web_runtime, phone=ANA), "bridge:2x10")
    sms(client, body)
    assert reports(web_runtime) == []


def test_done_from_a_patient_without_exercises_records_nothing(
    web_runtime: Runtime, client: TestClient
) -> None:
    assign(web_runtime, add_patient(web_runtime, phone=ANA), None)
    sms(client, "HECHO")
    assert reports(web_runtime) == []


def appointment_rows(runtime: Runtime) -> list[Message]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(Message).where(Message.template == "appointment").order_by(Message.id)
            )
        )


def test_the_appointment_reminder_goes_the_day_before_and_follows_the_appointment(
    web_runtime: Runtime,
) -> None:
    ana = add_patient(web_runtime, phone=ANA)
    booked = datetime(2026, 11, 23, 14, 30, tzinfo=NY)
    assign(web_runtime, ana, None, booked=booked)
    [reminder] = appointment_rows(web_runtime)
    assert reminder.due_at.astimezone(NY) == datetime(2026, 11, 22, 17, 0, tzinfo=NY)
    assert reminder.expires_at < booked
    moved = datetime(2026, 11, 25, 9, 0, tzinfo=NY)
    assign(web_runtime, ana, None, booked=moved)
    old, new = appointment_rows(web_runtime)
    assert old.status == MessageStatus.CANCELLED and new.status == MessageStatus.SCHEDULED
    assert new.due_at.astimezone(NY) == datetime(2026, 11, 24, 17, 0, tzinfo=NY)
    assign(web_runtime, ana, None, booked=None)  # the appointment was cancelled
    assert {m.status for m in appointment_rows(web_runtime)} == {MessageStatus.CANCELLED}


def test_a_reminder_hour_outside_the_sending_window_waits_for_it(web_runtime: Runtime) -> None:
    runtime = Runtime(
        web_runtime.settings.with_overrides(appointment_reminder_at=datetime.min.time())
    )
    ana = add_patient(runtime, phone=ANA)
    assign(runtime, ana, None, booked=datetime(2026, 11, 23, 14, 30, tzinfo=NY))
    [reminder] = appointment_rows(runtime)
    assert reminder.due_at.astimezone(NY) == datetime(2026, 11, 22, 8, 0, tzinfo=NY)
    runtime.close()


def booked_and_reminded(runtime: Runtime, twilio_server: TwilioPeer, language: str) -> Visit:
    """A visit ten days ago with an appointment in two days, its reminder texted (the
    series' early steps have expired: the reminder is the day's one text)."""
    now = utcnow()
    patient = add_patient(runtime, phone=ANA, language=language)
    assign(runtime, patient, None, at=now - timedelta(days=10), booked=now + timedelta(days=2))
    [reminder] = appointment_rows(runtime)
    tick(runtime, reminder.due_at)
    assert twilio_server.bodies_to(ANA)[-1].count(" C ") == 1
    with runtime.sessions() as session:
        return session.scalars(select(Visit)).one()


def test_c_confirms_the_appointment_and_needs_nobody(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient
) -> None:
    booked_and_reminded(web_runtime, twilio_server, "en")
    text = twilio_server.bodies_to(ANA)[-1]
    assert "Reply C to confirm or R to reschedule." in text
    sms(client, "c")
    with web_runtime.sessions() as session:
        visit = session.scalars(select(Visit)).one()
        reply = session.scalars(select(Reply)).one()
    assert visit.next_appointment_confirmed_at is not None
    assert visit.next_appointment_reschedule_at is None
    assert reply.keyword == "confirm" and reply.handled_at is not None


def test_r_puts_a_reschedule_item_in_the_inbox_in_spanish_too(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient
) -> None:
    booked_and_reminded(web_runtime, twilio_server, "es")
    assert "Responda C para confirmar o R para cambiarla." in twilio_server.bodies_to(ANA)[-1]
    sms(client, "R")
    with web_runtime.sessions() as session:
        visit = session.scalars(select(Visit)).one()
        reply = session.scalars(select(Reply)).one()
    assert visit.next_appointment_reschedule_at is not None
    assert visit.next_appointment_confirmed_at is None
    assert reply.keyword == "reschedule" and reply.handled_at is None
    assert "front desk" in reply.reasons


def test_c_that_answers_no_appointment_reminder_is_only_a_reply(
    web_runtime: Runtime, client: TestClient
) -> None:
    ana = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, ana, None)
    sms(client, "C")
    with web_runtime.sessions() as session:
        reply = session.scalars(select(Reply)).one()
    assert reply.keyword is None and reply.handled_at is None


def test_the_api_assigns_a_visits_exercises_and_shows_the_history(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        # Assigning exercises is a clinician's (the access policy), as in the console.
        token = issue_token(session, add_staff(session, name="lee", role="clinician"))[1]
    patient = add_patient(runtime)
    assign(runtime, patient, "bridge:2x10")
    assign(runtime, patient, None, ref="V2", at=VISIT + timedelta(days=7))
    with TestClient(create_app(runtime)) as api:
        assert api.get("/api/patients/P1/exercises").status_code == 401
        bad = api.put(
            "/api/visits/V2/exercises", json={"exercises": "walk:2x3"}, headers=auth(token)
        )
        assert bad.status_code == 422 and "dosed in minutes" in bad.json()["detail"]
        missing = api.put(
            "/api/visits/V9/exercises", json={"exercises": "walk"}, headers=auth(token)
        )
        assert missing.status_code == 404
        changed = api.put(
            "/api/visits/V2/exercises", json={"exercises": "walk:20min"}, headers=auth(token)
        )
        assert changed.status_code == 200
        shown = api.get("/api/patients/P1/exercises", headers=auth(token)).json()
    assert shown["current"] == "walk:20min"
    assert [(h["visit_ref"], h["exercises"]) for h in shown["history"]] == [
        ("V2", "walk:20min"),
        ("V1", "bridge:2x10"),
    ]
    with runtime.sessions() as session:
        assert {"read-exercises", "assign-exercises"} <= set(
            session.scalars(select(AuditEntry.action))
        )


@pytest.mark.parametrize("body", ["HECHO", "hecho!", "Listo", "C", "R"])
def test_a_bare_programme_answer_is_no_alarm(
    web_runtime: Runtime, client: TestClient, body: str
) -> None:
    """The second reader, trained on replies about the body, reads a short word it does
    not know as doubt; a bare answer we asked for has nothing else to read."""
    assign(web_runtime, add_patient(web_runtime, phone=ANA, language="es"), "bridge:2x10")
    sms(client, body)
    with web_runtime.sessions() as session:
        assert session.scalars(select(Alert)).all() == []
        [reply] = session.scalars(select(Reply)).all()
    assert reply.triage == "routine"
    assert len(reports(web_runtime)) == (1 if body not in ("C", "R") else 0)
