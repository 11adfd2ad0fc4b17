"""One patient's whole episode with a home programme, in English and in Spanish, seen
from the console; and the console's programme, nudge and outcome pages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.db import transaction
from followup.models.care import Visit
from followup.models.outbox import Message
from followup.models.programs import ExerciseAssignment, ExerciseReport, MeasureResponse
from followup.models.replies import Reply
from followup.models.staff import AuditEntry, Role
from followup.replies.inbound_sms import InboundSms, receive_sms
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC, VISIT, add_patient
from tests.console.test_console import make_staff, sign_in
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_programmes import ANA, assign

WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "named": "Bridge 2x10, Walk 15 min.",
        "done": "DONE",
        "ask": "Reply DONE when you have done them.",
        "appointment": "Reply C to confirm or R to reschedule.",
        "form": "rate how well you can do your daily tasks",
        "first": ["walking to work", "lifting my son"],
    },
    "es": {
        "named": "Puente 2x10, Caminar 15 min.",
        "done": "hecho",
        "ask": "Responda HECHO al hacerlos.",
        "appointment": "Responda C para confirmar o R para cambiarla.",
        "form": "califique qué tan bien puede hacer sus tareas diarias",
        "first": ["caminar al trabajo", "cargar a mi hijo"],
    },
}


@pytest.fixture
def console(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as client:
        yield client


def text(runtime: Runtime, body: str, at: datetime, sid: str) -> None:
    """The patient's text arriving at `at` (stored as the webhook stores it)."""
    with transaction(runtime.sessions) as session:
        receive_sms(
            session,
            settings=runtime.settings,
            renderer=runtime.renderer,
            messages=[InboundSms(sid, ANA, body)],
            now=at,
        )


def last_text(twilio: TwilioPeer) -> str:
    return twilio.bodies_to(ANA)[-1]


def sent_at(runtime: Runtime, step: str) -> datetime:
    with runtime.sessions() as session:
        found = session.scalar(select(Message.sent_at).where(Message.step.startswith(step)))
    assert found is not None, f"{step} was not sent"
    return found


def link(body: str, kind: str) -> str:
    found = re.search(rf"{re.escape(PUBLIC)}(/{kind}/[^\s\"<]+)", body)
    assert found is not None, f"no /{kind}/ link in {body!r}"
    return found.group(1)


def fill(client: TestClient, path: str, scores: list[int], activities: list[str] | None) -> str:
    form = client.get(path)
    assert form.status_code == 200
    data = {f"score{i + 1}": str(score) for i, score in enumerate(scores)}
    if activities is not None:
        data |= {f"activity{i + 1}": name for i, name in enumerate(activities)}
    else:  # the later form offers the activities named first
        data |= {
            f"activity{i + 1}": value
            for i, value in enumerate(re.findall(r'name="activity\d" value="([^"]*)"', form.text))
        }
    return client.post(path, data=data).text


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_whole_episode_with_exercises_done_measured_and_appointments_answered(
    web_runtime: Runtime, twilio_server: TwilioPeer, console: TestClient, language: str
) -> None:
    words = WORDS[language]
    patient = add_patient(web_runtime, phone=ANA, language=language)
    first_appointment = VISIT + timedelta(days=10)
    assign(web_runtime, patient, "bridge:2x10,walk:15min", booked=first_appointment)

    # Day 2: the exercise reminder names them; its page offers the intake form.
    walk(web_runtime, VISIT + timedelta(days=3))
    reminder = twilio_server.bodies_to(ANA)[1]
    assert words["named"] in reminder and words["ask"] in reminder
    page = console.get(link(reminder, "x")).text
    assert words["form"] in page
    fill(console, link(page, "m"), [3, 4], words["first"])
    assert words["form"] not in console.get(link(reminder, "x")).text  # filled: not offered
    text(web_runtime, words["done"], sent_at(web_runtime, "keep-moving") + timedelta(hours=2), "S1")

    # Day 4: the first pain score.
    walk(web_runtime, VISIT + timedelta(days=5))
    text(web_runtime, "5", sent_at(web_runtime, "warning-signs") + timedelta(hours=1), "S2")

    # The day before the appointment: C confirms it.
    walk(web_runtime, first_appointment - timedelta(hours=6))
    assert words["appointment"] in last_text(twilio_server)
    text(web_runtime, "C", sent_at(web_runtime, "appointment-") + timedelta(minutes=5), "S3")

    # The appointment is the next visit; it books another, which R asks to move.
    second_appointment = first_appointment + timedelta(days=7)
    assign(web_runtime, patient, None, ref="V2", at=first_appointment, booked=second_appointment)
    walk(web_runtime, second_appointment - timedelta(hours=6))
    assert words["appointment"] in last_text(twilio_server)
    with web_runtime.sessions() as session:
        second_reminder = session.scalars(
            select(Message.sent_at)
            .where(Message.step.startswith("appointment-"))
            .order_by(Message.sent_at.desc())
        ).first()
    assert second_reminder is not None
    text(web_runtime, "R", second_reminder + timedelta(minutes=5), "S4")

    # Four weeks after the latest visit: the check-in links to the same form again.
    walk(web_runtime, first_appointment + timedelta(days=29))
    four_weeks = last_text(twilio_server)
    fill(console, link(four_weeks, "m"), [7, 8], None)
    text(web_runtime, "2", sent_at(web_runtime, "progress-4w") + timedelta(hours=1), "S5")

    with web_runtime.sessions() as session:
        visits = session.scalars(select(Visit).order_by(Visit.visited_at)).all()
        forms = session.scalars(select(MeasureResponse).order_by(MeasureResponse.id)).all()
        done = session.scalars(select(ExerciseReport)).all()
        replies = {r.body: r for r in session.scalars(select(Reply))}
    assert visits[0].next_appointment_confirmed_at is not None
    assert visits[1].next_appointment_reschedule_at is not None
    assert replies["R"].keyword == "reschedule" and replies["R"].handled_at is None
    assert replies["C"].handled_at is not None
    assert [(f.timepoint, f.psfs_mean) for f in forms] == [("intake", 3.5), ("4w", 7.5)]
    assert forms[1].activities == forms[0].activities == "\n".join(words["first"])
    assert len(done) == 1

    # The outcomes page shows the change for the clinician, and the export says the same.
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sign_in(console, "lee")
    assert "reschedule the next appointment" in console.get("/console/inbox").text
    shown = console.get("/console/outcomes?start=2026-11-01&end=2026-11-30&by=clinician")
    assert shown.status_code == 200 and "<svg" in shown.text
    row = re.search(r"<tr><td>Dr\. Rivera</td>(.*?)</tr>", shown.text)
    assert row is not None
    assert "+3.0" in row.group(1) and "+4.0" in row.group(1) and "50%" in row.group(1)
    exported = console.get("/console/outcomes.csv?start=2026-11-01&end=2026-11-30&by=office")
    [hoboken, everyone] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (hoboken["group"], hoboken["patients"], hoboken["psfs_change_mean"]) == (
        "Hoboken",
        "1",
        "4.0",
    )
    assert hoboken["pain_mcid_share"] == hoboken["psfs_mcid_share"] == "1.0"
    assert everyone["group"] == "All"
    with web_runtime.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"read-outcomes", "export-outcomes"} <= actions


def test_the_patient_page_shows_the_programme_and_a_clinician_changes_it(
    web_runtime: Runtime, console: TestClient
) -> None:
    patient = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, patient, "bridge:2x10,walk:15min")
    make_staff(web_runtime, "desk", Role.STAFF)
    make_staff(web_runtime, "lee", Role.CLINICIAN)
    sign_in(console, "desk")
    page = console.get("/console/patients/P1").text
    assert "Bridge: 2 sets of 10, once a day" in page and "Walking: 15 minutes" in page
    assert 'action="/console/patients/P1/exercises"' not in page  # the front desk cannot assign
    console.post("/console/logout", data={"csrf": _csrf(page)})
    sign_in(console, "lee")
    page = console.get("/console/patients/P1").text
    refused = console.post(
        "/console/patients/P1/exercises",
        data={"csrf": _csrf(page), "visit": "V1", "exercises": "bridge:2x99"},
    )
    assert refused.status_code == 400 and "reps must be 1 to 30" in refused.text
    console.post(
        "/console/patients/P1/exercises",
        data={"csrf": _csrf(page), "visit": "V1", "exercises": "bird-dog:2x8,walk:20min"},
    )
    page = console.get("/console/patients/P1").text
    assert "Bird dog: 2 sets of 8" in page and "Bridge" not in page.split("<h3>Assigned")[0]
    with web_runtime.sessions() as session:
        rows = session.scalars(select(ExerciseAssignment)).all()
    assert {(r.exercise, r.assigned_by) for r in rows} == {("bird-dog", "lee"), ("walk", "lee")}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_patient_who_stops_answering_done_needs_a_nudge_not_an_alert(
    web_runtime: Runtime, console: TestClient
) -> None:
    quiet = add_patient(web_runtime, "P1", phone=ANA)
    keen = add_patient(web_runtime, "P2", phone="+12015550112")
    assign(web_runtime, quiet, "bridge:2x10")
    assign(web_runtime, keen, "walk:15min", ref="V2")
    walk(web_runtime, VISIT + timedelta(days=8))  # both exercise reminders sent
    with transaction(web_runtime.sessions) as session:
        receive_sms(
            session,
            settings=web_runtime.settings,
            renderer=web_runtime.renderer,
            messages=[InboundSms("S1", "+12015550112", "done")],
            now=VISIT + timedelta(days=7, hours=1),
        )
    make_staff(web_runtime, "desk", Role.STAFF)
    sign_in(console, "desk")
    page = console.get("/console/nudges").text
    assert 'href="/console/patients/P1"' in page and 'href="/console/patients/P2"' not in page
    assert "never" in page
    with web_runtime.sessions() as session:
        assert session.scalars(select(Reply).where(Reply.triage != "routine")).all() == []
