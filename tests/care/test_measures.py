"""Outcome measures: the PSFS form's rules, once per time point, the discharge form, and
outcomes judged against the minimal clinically important difference."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from followup.care.measures import measure_form, record_measures
from followup.care.outcome_snapshot import summarize
from followup.care.outcomes import EpisodeOutcome
from followup.care.visits import discharge_patient
from followup.content.encoding import sms_shape
from followup.content.links import Links
from followup.db import insert_rows, transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus
from followup.models.outcomes import StoredOutcome
from followup.models.programs import MeasureResponse
from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC, VISIT, add_patient, altered, tick
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_programmes import ANA, assign

FIRST_VISIT = datetime(2026, 11, 2, 15, tzinfo=UTC)


@pytest.fixture
def client(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as test_client:
        yield test_client


def step_id(runtime: Runtime, step: str) -> int:
    with runtime.sessions() as session:
        found = session.scalar(select(Message.id).where(Message.step == step))
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("activities", "scores", "problem"),
    [
        (["", "", ""], ["", "", ""], "name at least one activity"),
        (["walking", "", ""], ["", "", ""], "rate 'walking' from 0 to 10"),
        (["walking", "", ""], ["11", "", ""], "rate 'walking' from 0 to 10"),
        (["", "", ""], ["4", "", ""], "needs the activity it rates"),
        (["walk\x00ing", "", ""], ["4", "", ""], "control character"),
    ],
)
def test_a_form_that_is_not_whole_is_refused_and_records_nothing(
    runtime: Runtime, activities: list[str], scores: list[str], problem: str
) -> None:
    assign(runtime, add_patient(runtime), "bridge")
    with transaction(runtime.sessions) as session:
        form = measure_form(session, step_id(runtime, "keep-moving"))
        assert form is not None and form.timepoint == "intake"
        with pytest.raises(InvalidInput, match=problem):
            record_measures(
                session, form, activities=activities, scores=scores, global_change=None, now=VISIT
            )
    with runtime.sessions() as session:
        assert session.scalars(select(MeasureResponse)).all() == []


def test_a_time_point_is_recorded_once_and_later_forms_offer_the_first_activities(
    runtime: Runtime,
) -> None:
    assign(runtime, add_patient(runtime), "bridge")
    for scores in (["2", "5", ""], ["9", "9", ""]):
        with transaction(runtime.sessions) as session:
            form = measure_form(session, step_id(runtime, "keep-moving"))
            assert form is not None
            record_measures(
                session,
                form,
                activities=["walking", "  bending   down ", ""],
                scores=scores,
                global_change=None,
                now=VISIT,
            )
    with runtime.sessions() as session:
        [response] = session.scalars(select(MeasureResponse)).all()
        later = measure_form(session, step_id(runtime, "progress-4w"))
    assert (response.activities, response.scores, response.psfs_mean) == (
        "walking\nbending down",
        "2,5",
        3.5,
    )
    assert later is not None and later.timepoint == "4w"
    assert later.earlier_activities == ("walking", "bending down") and not later.answered


def test_a_message_that_carries_no_form_opens_none(runtime: Runtime) -> None:
    assign(runtime, add_patient(runtime), "bridge")
    with runtime.sessions() as session:
        assert measure_form(session, step_id(runtime, "welcome")) is None
        assert measure_form(session, 10**6) is None


def test_discharge_sends_the_form_with_the_global_rating_of_change_in_spanish(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient
) -> None:
    with_exercises = add_patient(web_runtime, phone=ANA, language="es")
    without = add_patient(web_runtime, "P2", phone="+12015550112")
    assign(web_runtime, with_exercises, "walk:20min")
    assign(web_runtime, without, None, ref="V2")
    now = utcnow()
    for patient in (with_exercises, without):
        with transaction(web_runtime.sessions) as session:
            discharge_patient(
                session,
                patient=session.get_one(Patient, patient.id),
                reason="care completed",
                settings=web_runtime.settings,
            )
    with web_runtime.sessions() as session:
        pending = session.scalars(
            select(Message).where(Message.status == MessageStatus.SCHEDULED)
        ).all()
    # Every episode of care gets one, with home exercises or without.
    assert {(m.patient_id, m.step) for m in pending} == {
        (with_exercises.id, "measures-discharge"),
        (without.id, "measures-discharge"),
    }
    [form_message] = [m for m in pending if m.patient_id == with_exercises.id]
    tick(web_runtime, max(now, *(m.due_at for m in pending)) + timedelta(minutes=1))
    [texted] = twilio_server.bodies_to(ANA)
    assert "Califiquelas aqui" in texted
    [english] = twilio_server.bodies_to("+12015550112")
    assert "Please rate them here" in english and f"{PUBLIC}/m/" in english
    path = Links(web_runtime.settings).measures_url(form_message.id).removeprefix(PUBLIC)
    page = client.get(path)
    assert "muchísimo mejor" in page.text and "cómo está su espalda ahora" in page.text
    missing = client.post(path, data={"activity1": "caminar", "score1": "6"})
    assert missing.status_code == 400 and "Revise sus respuestas" in missing.text
    done = client.post(path, data={"activity1": "caminar", "score1": "6", "change": "5"})
    assert "Recibimos sus respuestas" in done.text
    with web_runtime.sessions() as session:
        [response] = session.scalars(select(MeasureResponse)).all()
    assert (response.timepoint, response.psfs_mean, response.global_change) == ("discharge", 6, 5)
    assert client.get(altered(path)).status_code == 400


def outcome(
    clinician: str, office: str, pain: float | None, psfs: float | None, *, patient: int
) -> EpisodeOutcome:
    return EpisodeOutcome(
        episode_id=patient,
        patient_id=patient,
        first_visit_at=FIRST_VISIT,
        clinician=clinician,
        office=office,
        pain_change=pain,
        psfs_change=psfs,
        global_change=None,
        check_ins=4,
        answered=3,
        reminders=2,
        followed=1,
    )


def test_outcomes_are_judged_against_the_minimal_important_difference(
    runtime: Runtime,
) -> None:
    outcomes = [
        outcome("Dr. Lee", "Hoboken", 3.0, 2.0, patient=1),  # both reach 2 points
        outcome("Dr. Lee", "Weehawken", 1.0, 1.5, patient=2),  # neither
        outcome("Dr. Lee", "Hoboken", None, None, patient=3),  # measured once: no change
        outcome("Dr. Gomez", "Hoboken", -2.0, 4.0, patient=4),  # worse pain, better function
    ]
    period = {"start": FIRST_VISIT, "end": FIRST_VISIT + timedelta(days=1)}
    with transaction(runtime.sessions) as session:
        insert_rows(session, StoredOutcome, [asdict(o) for o in outcomes])
        gomez, lee, everyone = summarize(session, **period, by="clinician")
        hoboken, weehawken, _ = summarize(session, **period, by="office")
        later = summarize(session, start=period["end"], end=period["end"], by="office")
    assert (lee.group, lee.patients, lee.pain_measured, lee.psfs_measured) == ("Dr. Lee", 3, 2, 2)
    assert (lee.pain_change, lee.pain_mcid_share) == (2.0, 0.5)
    assert (lee.psfs_change, lee.psfs_mcid_share) == (1.75, 0.5)
    assert (lee.response_rate, lee.adherence) == (0.75, 0.5)
    assert (gomez.pain_mcid_share, gomez.psfs_mcid_share) == (0.0, 1.0)
    assert (everyone.group, everyone.patients, everyone.pain_change) == ("All", 4, 0.67)
    assert (hoboken.group, hoboken.patients, weehawken.patients) == ("Hoboken", 3, 1)
    assert later == []


def test_an_episode_without_exercises_is_asked_the_psfs_at_intake_2_and_4_weeks(
    web_runtime: Runtime, twilio_server: TwilioPeer, client: TestClient
) -> None:
    assign(web_runtime, add_patient(web_runtime, phone=ANA), None)
    walk(web_runtime, VISIT + timedelta(days=29))
    texts = {m.step: m for m in sent(web_runtime)}
    bodies = twilio_server.bodies_to(ANA)
    keep_moving = next(b for b in bodies if "keep moving" in b)
    assert "How well can you do your daily tasks? Rate them:" in keep_moving
    assert sms_shape(keep_moving).segments <= 2
    for step, timepoint in (
        ("keep-moving", "intake"),
        ("progress-2w", "2w"),
        ("progress-4w", "4w"),
    ):
        with web_runtime.sessions() as session:
            form = measure_form(session, texts[step].id)
        assert form is not None and form.timepoint == timepoint
    found = re.search(rf"{re.escape(PUBLIC)}(/m/\S+)", keep_moving)
    assert found is not None
    path = found.group(1)
    client.post(path, data={"activity1": "walking", "score1": "4"})
    four_weeks = Links(web_runtime.settings).measures_url(texts["progress-4w"].id)
    client.post(four_weeks.removeprefix(PUBLIC), data={"activity1": "walking", "score1": "8"})
    with web_runtime.sessions() as session:
        answered = session.scalars(select(MeasureResponse).order_by(MeasureResponse.id)).all()
    assert [(r.timepoint, r.psfs_mean) for r in answered] == [("intake", 4), ("4w", 8)]


def sent(runtime: Runtime) -> list[Message]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message).where(Message.status == MessageStatus.SENT)))
