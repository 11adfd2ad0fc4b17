"""A next-appointment reminder goes first in the frequency cap: a routine plan message
leaves its room to it, and a week spent before the appointment was booked still lets it
go; consent and quiet hours hold it like any text."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from followup.delivery.caps import FrequencyCaps, planned_effect
from followup.models.outbox import Message, MessageStatus
from followup.runtime import Runtime
from tests.conftest import VISIT, add_patient
from tests.console.test_programmes import text
from tests.delivery.test_caps import sent_days, walk
from tests.peers.twilio_server import TwilioPeer
from tests.web.test_programmes import ANA, assign

NY = ZoneInfo("America/New_York")
# The visit is Monday 16 November 10:00: welcome (Mon), keep-moving (Wed) and
# warning-signs (Fri 10:00) fill the week's three texts.
FRIDAY_EVENING = datetime(2026, 11, 20, 17, 0, tzinfo=NY)
SATURDAY_VISIT = datetime(2026, 11, 21, 14, 0, tzinfo=NY)


def rows(runtime: Runtime) -> dict[str, Message]:
    with runtime.sessions() as session:
        return {m.step or "": m for m in session.scalars(select(Message))}


def reminder(found: dict[str, Message]) -> Message:
    [step] = [step for step in found if step.startswith("appointment-")]
    return found[step]


def test_a_routine_text_leaves_the_weeks_last_room_to_the_appointment_reminder(
    web_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, patient, None, booked=SATURDAY_VISIT)
    with web_runtime.sessions() as session:
        ahead = planned_effect(
            session,
            FrequencyCaps(web_runtime.settings),
            patient_id=patient.id,
            zone=NY,
            now=VISIT,
        )
    planned = rows(web_runtime)
    # `followup schedule` says the same ahead of time.
    assert ahead[reminder(planned).id].skipped is None
    assert ahead[planned["warning-signs"].id].skipped is not None

    walk(web_runtime, SATURDAY_VISIT)
    sent = rows(web_runtime)
    assert reminder(sent).status == MessageStatus.SENT
    assert reminder(sent).sent_at is not None
    assert reminder(sent).sent_at.astimezone(NY) == FRIDAY_EVENING  # type: ignore[union-attr]
    routine = sent["warning-signs"]
    assert routine.status == MessageStatus.SKIPPED
    assert "frequency cap" in (routine.last_error or "")
    assert "room kept for an appointment reminder" in (routine.last_error or "")
    assert twilio_server.bodies_to(ANA)[-1].endswith("Reply STOP to opt out.")
    assert "Reply C to confirm or R to reschedule." in twilio_server.bodies_to(ANA)[-1]
    # Within the cap: one a day, three in the week.
    assert max(sent_days(web_runtime, patient.id).values()) == 1
    assert sum(sent_days(web_runtime, patient.id).values()) == 3


def test_a_week_spent_before_the_booking_still_lets_the_reminder_go(
    web_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, patient, None)
    walk(web_runtime, FRIDAY_EVENING - timedelta(hours=6))
    assert sum(sent_days(web_runtime, patient.id).values()) == 3  # the week is full
    # A second visit on Friday books Saturday; its reminder is due that evening.
    booked_at = FRIDAY_EVENING - timedelta(hours=5)
    assign(web_runtime, patient, None, ref="V2", at=booked_at, booked=SATURDAY_VISIT)
    walk(web_runtime, FRIDAY_EVENING)
    found = reminder(rows(web_runtime))
    assert found.status == MessageStatus.SENT
    assert "Reply C to confirm" in twilio_server.bodies_to(ANA)[-1]
    days = sent_days(web_runtime, patient.id)
    assert days[FRIDAY_EVENING.date()] == 2 and sum(days.values()) == 4  # over by itself alone


def test_the_reminder_keeps_to_opt_out_and_the_sending_window(web_runtime: Runtime) -> None:
    patient = add_patient(web_runtime, phone=ANA)
    assign(web_runtime, patient, None, booked=SATURDAY_VISIT)
    text(web_runtime, "STOP", VISIT + timedelta(days=3), "SM1")
    walk(web_runtime, SATURDAY_VISIT)
    found = reminder(rows(web_runtime))
    # The opt-out cancels it (it was pending); it is never sent.
    assert found.status == MessageStatus.CANCELLED and found.sent_at is None
    late = Runtime(web_runtime.settings.with_overrides(appointment_reminder_at=datetime.min.time()))
    other = add_patient(late, "P2", phone="+12015550112")
    assign(late, other, None, ref="V9", booked=SATURDAY_VISIT)
    with late.sessions() as session:
        due = session.scalars(
            select(Message.due_at).where(
                Message.patient_id == other.id, Message.step.startswith("appointment-")
            )
        ).one()
    assert due.astimezone(NY).hour == 8  # midnight is in quiet hours: the window opens
    late.close()
