from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from followup.care.plans import load_plan
from followup.care.visits import (
    cancel_visit,
    discharge_patient,
    get_visit,
    record_visit,
    reschedule_visit,
)
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import Channel
from followup.models.care import Office
from followup.models.outbox import Message, MessageStatus
from followup.runtime import Runtime
from tests.conftest import VISIT, add_patient, enrol_visit

NY = ZoneInfo("America/New_York")


def messages(runtime: Runtime) -> list[Message]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.due_at, Message.id)))


def test_recording_a_visit_plans_one_message_per_step(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    plan = load_plan(runtime.settings.plans_dir, "lower-back")
    # The visit has no tags: the steps only for some tags (osteoarthritis) are left out.
    for_everyone = [step.key for step in plan.steps if not step.tags]
    assert enrol_visit(runtime, patient) == len(for_everyone) == len(plan.steps) - 1
    rows = messages(runtime)
    assert [row.step for row in rows] == for_everyone
    assert {row.status for row in rows} == {MessageStatus.SCHEDULED}
    assert {row.channel for row in rows} == {Channel.SMS}
    # Day 2 at 10:00 New York time, stored as UTC.
    keep_moving = next(row for row in rows if row.step == "keep-moving")
    local = keep_moving.due_at.astimezone(NY)
    assert (local.date(), local.hour) == ((VISIT + timedelta(days=2)).date(), 10)
    assert keep_moving.expires_at == keep_moving.due_at + timedelta(hours=12)


def test_recording_the_same_visit_twice_plans_nothing_more(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    first = enrol_visit(runtime, patient)
    assert enrol_visit(runtime, patient) == 0
    assert len(messages(runtime)) == first


def test_preferred_channel_falls_back_to_email_without_sms_consent(runtime: Runtime) -> None:
    patient = add_patient(runtime, consents={Channel.SMS: False, Channel.EMAIL: True})
    enrol_visit(runtime, patient)
    assert {row.channel for row in messages(runtime)} == {Channel.EMAIL}


def test_sms_steps_may_fall_back_to_email_only_when_email_is_reachable(runtime: Runtime) -> None:
    both = add_patient(runtime, "P1")
    sms_only = add_patient(
        runtime, "P2", phone="+12015550112", email="", consents={Channel.SMS: True}
    )
    enrol_visit(runtime, both, ref="V1")
    enrol_visit(runtime, sms_only, ref="V2")
    by_patient = {(row.patient_id, row.email_fallback) for row in messages(runtime)}
    assert by_patient == {(both.id, True), (sms_only.id, False)}


def test_evening_visit_sends_welcome_sms_next_morning(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    evening = datetime(2026, 11, 17, 2, 30, tzinfo=UTC)  # 21:30 local, after the window
    enrol_visit(runtime, patient, at=evening)
    welcome = next(row for row in messages(runtime) if row.step == "welcome")
    assert welcome.due_at.astimezone(NY).strftime("%m-%d %H:%M") == "11-17 08:00"


def test_rescheduling_moves_pending_messages_with_the_visit(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    before = {row.step: row.due_at for row in messages(runtime)}
    with transaction(runtime.sessions) as session:
        visit = get_visit(session, "V1")
        moved = reschedule_visit(
            session, settings=runtime.settings, visit=visit, visited_at=VISIT + timedelta(days=3)
        )
    assert moved == len(before)
    after = {row.step: row.due_at for row in messages(runtime)}
    assert all(after[step] - before[step] == timedelta(days=3) for step in before)


def test_recording_a_visit_again_with_a_new_time_reschedules(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    enrol_visit(runtime, patient, at=VISIT + timedelta(days=1))
    rows = messages(runtime)
    assert len(rows) == 7
    assert rows[1].due_at.astimezone(NY).date() == (VISIT + timedelta(days=3)).date()


def test_cancelling_a_visit_cancels_its_pending_messages_with_the_reason(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    with transaction(runtime.sessions) as session:
        cancelled = cancel_visit(
            session,
            settings=runtime.settings,
            visit=get_visit(session, "V1"),
            reason="booked in error",
        )
    assert cancelled.cancelled == 7
    assert {(row.status, row.last_error) for row in messages(runtime)} == {
        (MessageStatus.CANCELLED, "visit cancelled: booked in error")
    }
    with transaction(runtime.sessions) as session, pytest.raises(InvalidInput, match="cancelled"):
        reschedule_visit(
            session, settings=runtime.settings, visit=get_visit(session, "V1"), visited_at=VISIT
        )


def test_discharge_cancels_everything_pending_and_refuses_new_visits(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient)
    with transaction(runtime.sessions) as session:
        discharged = session.merge(patient)
        assert discharge_patient(session, patient=discharged, reason="completed care") == 7
    with pytest.raises(InvalidInput, match="discharged"):
        enrol_visit(runtime, patient, ref="V2")
    assert {row.status for row in messages(runtime)} == {MessageStatus.CANCELLED}


def test_a_visit_ref_cannot_move_to_another_patient(runtime: Runtime) -> None:
    first = add_patient(runtime, "P1")
    other = add_patient(runtime, "P2", phone="+12015550112")
    enrol_visit(runtime, first)
    with transaction(runtime.sessions) as session, pytest.raises(InvalidInput, match="another"):
        record_visit(
            session,
            settings=runtime.settings,
            ref="V1",
            patient=session.merge(other),
            office=Office.HOBOKEN,
            clinician="Dr. Test",
            visited_at=VISIT,
        )
