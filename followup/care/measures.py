"""Outcome measures: the Patient-Specific Functional Scale (PSFS) and, at discharge, the
global rating of change (GRC), filled on a web form from a link.

PSFS (Stratford et al., Physiotherapy Canada 1995): the patient names up to three
activities they find hard because of their back and rates each 0 (unable to do it) to
10 (able to do it as before); the score is the mean. It is asked in every episode of
care, with home exercises or without: at intake (the first exercise reminder, keep-moving,
links to it; with a programme, through its page of instructions), with the 2- and
4-week check-ins and at discharge (a message of its own, the discharge having cancelled
the rest); from the second time on, the form shows the activities named first, so the
same ones are rated again. Each time point is recorded once. The GRC
is one answer from -7 (a very great deal worse) to +7 (a very great deal better).

The minimal clinically important differences that outcomes are judged against: 2
points on the 0-10 pain scale (Childs et al., Spine 2005; Ostelo et al., Spine 2008)
and 2 points on the PSFS mean (Stratford 1995; Horn et al., JOSPT 2012).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.care.plans import add_care_message
from followup.config import Settings
from followup.db import insert
from followup.exceptions import InvalidInput
from followup.models.care import Episode, Patient
from followup.models.outbox import Message
from followup.models.programs import MeasureResponse
from followup.plain_text import plain

# The discharge form's own message; the other time points ride on existing messages.
TEMPLATE = "measures"
DISCHARGE_STEP = "measures-discharge"
# The time point whose form a plan message links to, in every episode: intake with the
# first exercise reminder (its text or email; with a programme, its instructions page),
# then the 2- and 4-week check-ins.
TIMEPOINT_OF_STEP = {"keep-moving": "intake", "progress-2w": "2w", "progress-4w": "4w"}
TIMEPOINTS = ("intake", "2w", "4w", "discharge")
MAX_ACTIVITIES = 3
ACTIVITY_LENGTH = 80
PAIN_MCID = 2.0
PSFS_MCID = 2.0
GRC_RANGE = range(-7, 8)
DISCHARGE_FORM_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class MeasureForm:
    """What the form at a link asks: its time point, and the activities named before."""

    message_id: int
    patient_id: int
    episode_id: int
    timepoint: str
    earlier_activities: tuple[str, ...]
    answered: bool


def measure_form(session: Session, message_id: int) -> MeasureForm | None:
    """The form a message links to (by its step), or None if it links to none."""
    message = session.get(Message, message_id)
    if message is None or message.episode_id is None or message.patient_id is None:
        return None
    step = message.step or ""
    timepoint = "discharge" if step == DISCHARGE_STEP else TIMEPOINT_OF_STEP.get(step)
    if timepoint is None:
        return None
    responses = session.scalars(
        select(MeasureResponse)
        .where(MeasureResponse.episode_id == message.episode_id)
        .order_by(MeasureResponse.submitted_at)
    ).all()
    earlier = tuple(responses[0].activities.split("\n")) if responses else ()
    return MeasureForm(
        message.id,
        message.patient_id,
        message.episode_id,
        timepoint,
        earlier,
        any(r.timepoint == timepoint for r in responses),
    )


def record_measures(
    session: Session,
    form: MeasureForm,
    *,
    activities: list[str],
    scores: list[str],
    global_change: str | None,
    now: datetime,
) -> MeasureResponse | None:
    """Store the form; None if this time point was answered already. `InvalidInput` for
    a form that is not whole (each activity named needs its 0-10 score)."""
    named: list[tuple[str, int]] = []
    for activity, score in zip(activities, scores, strict=True):
        text = " ".join(plain(activity, "an activity").split())[:ACTIVITY_LENGTH]
        if not text and not score.strip():
            continue
        if not text:
            raise InvalidInput("each score needs the activity it rates")
        if not score.strip().isdigit() or not 0 <= int(score) <= 10:
            raise InvalidInput(f"rate {text!r} from 0 to 10")
        named.append((text, int(score)))
    if not named:
        raise InvalidInput("name at least one activity and rate it")
    if len(named) > MAX_ACTIVITIES:
        raise InvalidInput(f"at most {MAX_ACTIVITIES} activities")
    change = None
    if form.timepoint == "discharge":
        if global_change is None or not global_change.lstrip("-+").isdigit():
            raise InvalidInput("say how your back is now compared with before your care")
        change = int(global_change)
        if change not in GRC_RANGE:
            raise InvalidInput("the rating of change is from -7 to +7")
    if form.answered:
        return None
    statement = (
        insert(session, MeasureResponse)
        .values(
            patient_id=form.patient_id,
            episode_id=form.episode_id,
            message_id=form.message_id,
            timepoint=form.timepoint,
            activities="\n".join(a for a, _ in named),
            scores=",".join(str(s) for _, s in named),
            psfs_mean=round(sum(s for _, s in named) / len(named), 2),
            global_change=change,
            submitted_at=now,
        )
        # Two taps at once: the first is the answer.
        .on_conflict_do_nothing(index_elements=["episode_id", "timepoint"])
        .returning(MeasureResponse.id)
    )
    stored = session.execute(statement).scalar()
    return None if stored is None else session.get(MeasureResponse, stored)


def plan_discharge_measures(
    session: Session, *, patient: Patient, episode: Episode, settings: Settings, now: datetime
) -> int:
    """Queue the episode's discharge form (PSFS and the global rating of change), in
    the patient's sending window; returns messages added."""
    return add_care_message(
        session,
        patient=patient,
        episode_id=episode.id,
        visit_id=None,
        step=DISCHARGE_STEP,
        template=TEMPLATE,
        due_at=now,
        expires_at=now + DISCHARGE_FORM_KEPT,
        settings=settings,
        now=now,
    )
