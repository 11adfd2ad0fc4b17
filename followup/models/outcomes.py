"""Outcomes kept at hand: each episode's outcome as last computed, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base


class StoredOutcome(Base):
    """One episode's outcome (`followup.care.outcomes.EpisodeOutcome`) in the latest
    snapshot. No foreign keys: rows are written only by taking a snapshot, which
    replaces those that changed and drops those of episodes gone."""

    __tablename__ = "episode_outcomes"

    episode_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    patient_id: Mapped[int] = mapped_column(Integer)
    first_visit_at: Mapped[datetime] = mapped_column(index=True)  # a period's episodes
    clinician: Mapped[str] = mapped_column(String(100))
    office: Mapped[str] = mapped_column(String(20))
    pain_change: Mapped[float | None] = mapped_column(Float)
    psfs_change: Mapped[float | None] = mapped_column(Float)
    global_change: Mapped[int | None] = mapped_column(Integer)
    check_ins: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    reminders: Mapped[int] = mapped_column(Integer)
    followed: Mapped[int] = mapped_column(Integer)


class OutcomeSnapshot(Base):
    """When the stored outcomes were taken: one row, replaced with them."""

    __tablename__ = "outcome_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    taken_at: Mapped[datetime]
    episodes: Mapped[int] = mapped_column(Integer)
    took_seconds: Mapped[float] = mapped_column(Float)
