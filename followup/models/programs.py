"""Home exercise programmes, what patients say about doing them, outcome measures and
the confirmation of a next appointment."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base


class ExerciseAssignment(Base):
    """One exercise and dose a therapist assigned at a visit. A later visit that assigns
    exercises writes its own rows: the episode's programme is its latest visit's, and
    the earlier rows stay as the history."""

    __tablename__ = "exercise_assignments"
    __table_args__ = (
        UniqueConstraint("visit_id", "exercise", name="uq_assignment_visit_exercise"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    exercise: Mapped[str] = mapped_column(String(40))
    dose: Mapped[str] = mapped_column(String(20))
    assigned_at: Mapped[datetime]
    assigned_by: Mapped[str] = mapped_column(String(100))


class ExerciseReport(Base):
    """A patient's "done" for one local day: by SMS (DONE, HECHO) or a one-tap email link."""

    __tablename__ = "exercise_reports"
    __table_args__ = (UniqueConstraint("patient_id", "day", name="uq_exercise_report_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(10))
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    recorded_at: Mapped[datetime]


class MeasureResponse(Base):
    """A filled outcome form: the Patient-Specific Functional Scale at a time point
    (up to three activities, each 0-10) and, at discharge, the global rating of change."""

    __tablename__ = "measure_responses"
    __table_args__ = (
        UniqueConstraint("episode_id", "timepoint", name="uq_measure_episode_timepoint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    timepoint: Mapped[str] = mapped_column(String(12))
    # The activities as the patient named them, one per line, and their scores.
    activities: Mapped[str] = mapped_column(Text)
    scores: Mapped[str] = mapped_column(String(20))
    psfs_mean: Mapped[float] = mapped_column(Float)
    # -7 (a very great deal worse) to +7 (a very great deal better); discharge only.
    global_change: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime]
