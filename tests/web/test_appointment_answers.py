"""The answers a DONE, C or R gets back (each its own, in the patient's language), and an
appointment reminder email's one-tap Confirm and Ask to reschedule, recorded as a C or R
by text is: through the web app, the Twilio-compatible server and the SMTP server."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.content.encoding import sms_shape, to_gsm7
from followup.content.minimum_necessary import DIAGNOSIS_TERMS, health_terms
from followup.content.render import appointment_words
from followup.models.base import utcnow
from followup.models.care import Patient, Visit
from followup.models.replies import Reply
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC, VISIT, SmtpRecorder, add_patient, altered, tick
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_programmes import (
    ANA,
    appointment_rows,
    assign,
    booked_and_reminded,
    emails,
    text_part,
)
from tests.web.test_web import sms

# What each answer says, by language.
SAYS = {
    "en": {
        "done": "Thanks, recorded for today. Keep it up!",
        "confirm": "is confirmed. See you at our Hoboken office.",
        "reschedule": "Our front desk will call you",
        "new time": "to find a new time",
        "hours": "between 8:00 AM and 6:00 PM",
    },
    "es": {
        "done": "Gracias, lo anotamos por hoy. ¡Siga asi!",
        "confirm": "queda confirmada.",
        "reschedule": "Nuestra recepcion le llamara",
        "new time": "para buscar otra hora",
        "hours": "entre las 8:00 y las 18:00",
    },
}


@pytest.fixture
def client(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as test_client:
        yield test_client


def answered(response: object) -> str:
    """The text of the TwiML answer."""
    found = re.search(r"<Message>(.*?)</Message>", str(getattr(response, "text", "")), re.DOTALL)
    assert found is not None, "no answer"
    return html.unescape(found.group(1))


def fits(text: str, runtime: Runtime) -> None:
    """GSM-7, two segments at most, and no health detail (the clinic's name aside)."""
    shape = sms_shape(text)
    assert shape.encoding == "GSM-7" and shape.segments <= 2
    words = text.lower().replace(runtime.settings.clinic_name.lower(), "")
    assert not health_terms(words, DIAGNOSIS_TERMS)


@pytest.mark.parametrize("language", ["en", "es"])
def test_done_gets_its_own_answer_every_time_and_without_a_programme_the_routine_one(
    web_runtime: Runtime, client: TestClient, language: str
) -> None:
    assign(web_runtime, add_patient(web_runtime, phone=ANA, language=language), "bridge:2x10")
    walk(web_runtime, VISIT + timedelta(days=3))
    word = "DONE" if language == "en" else "hecho"
    first = answered(sms(client, word, sid="SM1"))
    again = answered(sms(client, word, sid="SM2"))  # the same day: still recorded once
    assert SAYS[language]["done"] in first and first == again
    fits(first, web_runtime)


def test_done_without_a_programme_gets_the_routine_answer(
    web_runtime: Runtime, client: TestClient
) -> None:
    assign(web_runtime, add_patient(web_runtime, phone=ANA), None)
    assert "Thank you, we got your message" in answered(sms(client, "DONE"))


@pytest.mark.parametrize("language", ["en", "es"])
def test_c_is_answered_with_the_appointment_it_confirmed_on_the_clinics_clock(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient, language: str
) -> None:
    visit = booked_and_reminded(web_runtime, twilio_server, language)
    assert visit.next_appointment_at is not None
    when = appointment_words(visit.next_appointment_at, "America/New_York", language)
    text = answered(sms(client, "C"))
    # The day and time in the patient's words, as a text writes them.
    for part in (when["date"], when["time"]):
        assert to_gsm7(" ".join(part.split())) in text
    assert SAYS[language]["confirm"] in text
    fits(text, web_runtime)


@pytest.mark.parametrize("language", ["en", "es"])
def test_r_is_answered_with_when_the_front_desk_will_call_in_office_hours(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient, language: str
) -> None:
    booked_and_reminded(web_runtime, twilio_server, language)
    text = answered(sms(client, "R"))
    for part in ("reschedule", "new time", "hours"):
        assert SAYS[language][part] in text
    fits(text, web_runtime)


def test_a_c_to_a_reminder_of_an_appointment_since_moved_confirms_nothing(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient
) -> None:
    visit = booked_and_reminded(web_runtime, twilio_server, "en")
    assert visit.next_appointment_at is not None
    moved = visit.next_appointment_at + timedelta(days=1)
    assign(web_runtime, patient_of(web_runtime, visit), None, at=visit.visited_at, booked=moved)
    text = answered(sms(client, "C"))
    with web_runtime.sessions() as session:
        assert session.get_one(Visit, visit.id).next_appointment_confirmed_at is None
        assert session.scalars(select(Reply)).one().keyword is None  # staff read it
    assert "Thank you, we got your message" in text


def patient_of(runtime: Runtime, visit: Visit) -> Patient:
    with runtime.sessions() as session:
        return session.get_one(Patient, visit.patient_id)


def email_reminder(
    runtime: Runtime, smtp_server: tuple[object, SmtpRecorder], language: str
) -> tuple[str, str]:
    """An email patient booked in two days, reminded: the (confirm, reschedule) paths."""
    now = utcnow()
    patient = add_patient(runtime, preferred="email", language=language)
    assign(runtime, patient, None, at=now - timedelta(days=10), booked=now + timedelta(days=2))
    [reminder] = appointment_rows(runtime)
    tick(runtime, reminder.due_at)
    plain = text_part(emails(smtp_server)[-1])
    links = re.findall(rf"{re.escape(PUBLIC)}(/a/\S+)", plain)
    assert len(links) == 2, plain
    return links[0], links[1]


def test_an_email_reminder_confirms_with_one_tap_recorded_as_a_c(
    web_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder], client: TestClient
) -> None:
    confirm, _ = email_reminder(web_runtime, smtp_server, "en")
    html_part = text_part(emails(smtp_server)[-1], "html")
    assert "Confirm my visit</a>" in html_part and "Ask to reschedule</a>" in html_part
    page = client.get(confirm)
    assert page.status_code == 200 and "Yes, confirm my visit" in page.text
    with web_runtime.sessions() as session:
        assert session.scalars(select(Reply)).all() == []  # a mail scanner's GET: nothing
    thanks = client.post(confirm)
    client.post(confirm)  # the same tap twice is one answer
    assert "is confirmed" in thanks.text and "Hoboken office" in thanks.text
    with web_runtime.sessions() as session:
        visit = session.scalars(select(Visit)).one()
        [reply] = session.scalars(select(Reply)).all()
    assert visit.next_appointment_confirmed_at is not None
    assert (reply.channel, reply.body, reply.keyword) == ("email", "C", "confirm")
    assert reply.handled_at is not None  # a confirmation needs nobody
    assert client.post(altered(confirm)).status_code == 400  # altered: refused


def test_an_email_reminder_asks_to_reschedule_in_spanish_for_the_front_desk(
    web_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder], client: TestClient
) -> None:
    _, reschedule = email_reminder(web_runtime, smtp_server, "es")
    assert "Pedir otra hora" in text_part(emails(smtp_server)[-1], "html")
    assert "Sí, quiero cambiarla" in client.get(reschedule).text
    thanks = client.post(reschedule)
    assert "Nuestra recepción le llamará" in thanks.text and "para buscar otra hora" in thanks.text
    with web_runtime.sessions() as session:
        visit = session.scalars(select(Visit)).one()
        reply = session.scalars(select(Reply)).one()
    assert visit.next_appointment_reschedule_at is not None
    assert visit.next_appointment_confirmed_at is None
    assert (reply.keyword, reply.handled_at) == ("reschedule", None)  # in the inbox
    assert "front desk" in reply.reasons


def test_a_tap_on_the_reminder_of_a_moved_appointment_says_to_call(
    web_runtime: Runtime, smtp_server: tuple[object, SmtpRecorder], client: TestClient
) -> None:
    confirm, _ = email_reminder(web_runtime, smtp_server, "en")
    with web_runtime.sessions() as session:
        visit = session.scalars(select(Visit)).one()
    assert visit.next_appointment_at is not None
    assign(
        web_runtime,
        patient_of(web_runtime, visit),
        None,
        at=visit.visited_at,
        booked=visit.next_appointment_at + timedelta(days=3),
    )
    assert "This visit has changed or is over" in client.get(confirm).text  # no button
    page = client.post(confirm)
    assert "This visit has changed or is over" in page.text
    with web_runtime.sessions() as session:
        assert session.scalars(select(Visit)).one().next_appointment_confirmed_at is None
