"""Episodes of care: a patient's visits share one series; a gap or a discharge starts
another; a booked next appointment holds the rebook nudge."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from followup.care.visits import cancel_visit, discharge_patient, get_visit
from followup.db import transaction
from followup.models.care import Episode, Patient
from followup.models.outbox import Message, MessageStatus
from followup.runtime import Runtime
from tests.conftest import VISIT, add_patient, enrol_visit
from tests.delivery.test_caps import walk
from tests.peers.twilio_server import TwilioPeer

NY = ZoneInfo("America/New_York")


def rows(runtime: Runtime) -> list[Message]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.due_at, Message.id)))


def test_four_visits_in_eight_days_make_one_series_with_no_step_twice(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(live_runtime)
    for n, days in enumerate((0, 2, 5, 8), start=1):
        at = VISIT + timedelta(days=days)
        walk(live_runtime, at)
        enrol_visit(live_runtime, patient, ref=f"V{n}", at=at)
    walk(live_runtime, VISIT + timedelta(days=60))
    steps = Counter(row.step for row in rows(live_runtime))
    assert steps == dict.fromkeys(
        ["welcome", "keep-moving", "warning-signs", "stay-active"]
        + ["progress-2w", "progress-4w", "rebook"],
        1,
    )
    bodies = [str(message["body"]) for message in twilio_server.messages]
    # The progress check-ins read alike but for the link to their own outcome form.
    assert len(bodies) == 7 and len(set(bodies)) == 7
    assert sum("911" in body for body in bodies) == 1  # one welcome
    sent = {row.step: row for row in rows(live_runtime)}
    assert {row.status for row in sent.values()} == {MessageStatus.SENT}
    # The steps still to come after each visit followed it: the series ran from the last.
    last = VISIT + timedelta(days=8)
    for step, days in (("stay-active", 7), ("progress-2w", 14), ("rebook", 42)):
        assert sent[step].due_at.astimezone(NY).date() == (last + timedelta(days=days)).date()
    assert sent["welcome"].due_at.astimezone(NY).date() == VISIT.date()
    days_with_texts = Counter(
        row.attempted_at.astimezone(NY).date() for row in sent.values() if row.attempted_at
    )
    assert max(days_with_texts.values()) == 1


def test_a_visit_after_the_gap_or_after_a_discharge_starts_a_new_episode(
    runtime: Runtime,
) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient, ref="V1", at=VISIT)
    gap = timedelta(days=runtime.settings.episode_gap_days)
    enrol_visit(runtime, patient, ref="V2", at=VISIT + gap + timedelta(days=1))
    with transaction(runtime.sessions) as session:
        discharge_patient(session, patient=session.get_one(Patient, patient.id), reason="done")
    discharged = rows(runtime)
    enrol_visit(runtime, patient, ref="V3", at=datetime.now(NY) + timedelta(days=1))
    with runtime.sessions() as session:
        episodes = session.scalars(select(Episode).order_by(Episode.id)).all()
        back = session.get_one(Patient, patient.id)
        assert back.discharged_at is None
    assert [episode.close_reason for episode in episodes] == [
        "no visit for 90 days",
        "discharged: done",
        None,
    ]
    welcomes = [row for row in rows(runtime) if row.step == "welcome"]
    assert len(welcomes) == 3 and len({row.episode_id for row in welcomes}) == 3
    assert all(row.status == MessageStatus.CANCELLED for row in discharged)


def test_cancelling_one_of_two_visits_moves_the_series_to_the_other(runtime: Runtime) -> None:
    patient = add_patient(runtime)
    enrol_visit(runtime, patient, ref="V1", at=VISIT)
    enrol_visit(runtime, patient, ref="V2", at=VISIT + timedelta(days=3))
    with transaction(runtime.sessions) as session:
        result = cancel_visit(
            session, settings=runtime.settings, visit=get_visit(session, "V2"), reason="no-show"
        )
    assert (result.cancelled, result.moved) == (0, 7)
    keep_moving = next(row for row in rows(runtime) if row.step == "keep-moving")
    assert keep_moving.due_at.astimezone(NY).date() == (VISIT + timedelta(days=2)).date()
    with transaction(runtime.sessions) as session:
        result = cancel_visit(
            session, settings=runtime.settings, visit=get_visit(session, "V1"), reason="error"
        )
    assert result.cancelled == 7
    with runtime.sessions() as session:
        [episode] = session.scalars(select(Episode)).all()
    assert episode.close_reason == "its visits were cancelled: error"


def test_a_booked_appointment_holds_the_rebook_nudge_which_names_the_last_visit(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    patient = add_patient(live_runtime)
    booked = VISIT + timedelta(days=50)  # later than the plan's six weeks
    enrol_visit(live_runtime, patient, ref="V1", at=VISIT, booked=booked)
    rebook = next(row for row in rows(live_runtime) if row.step == "rebook")
    local = rebook.due_at.astimezone(NY)
    assert (local.date(), local.hour) == ((booked + timedelta(days=1)).date(), 11)
    # The appointment happens: its visit moves the nudge six weeks after it.
    walk(live_runtime, booked)
    enrol_visit(live_runtime, patient, ref="V2", at=booked)
    rebook = next(row for row in rows(live_runtime) if row.step == "rebook")
    assert rebook.due_at.astimezone(NY).date() == (booked + timedelta(days=42)).date()
    walk(live_runtime, booked + timedelta(days=45))
    [nudge] = [m for m in twilio_server.messages if "last visit" in str(m["body"])]
    assert str(nudge["body"]).startswith(
        "Hi Pat, your last visit to Spine & PT Clinic was on Tuesday, January 5. To book"
    )
