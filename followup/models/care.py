"""Patients, their consent, episodes of care, visits and series pauses."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from followup.models.base import Base, Channel, utcnow

# The longest names, reference and email (100 + 100 + 64 + 320), with their parts.
SEARCH_TEXT_LENGTH = 1000


class Office(StrEnum):
    JERSEY_CITY = "jersey-city"
    HOBOKEN = "hoboken"
    WEEHAWKEN = "weehawken"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").title()


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    preferred_channel: Mapped[str] = mapped_column(String(10), default=Channel.SMS)
    language: Mapped[str] = mapped_column(String(5), default="en")
    timezone: Mapped[str] = mapped_column(String(64))
    date_of_birth: Mapped[date | None]
    # Folded name words and reference, kept by `followup.care.search` on every save.
    search_text: Mapped[str] = mapped_column(String(SEARCH_TEXT_LENGTH), default="")
    discharged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    visits: Mapped[list[Visit]] = relationship(back_populates="patient")

    __table_args__ = (
        # A trigram index on PostgreSQL serves "a word begins with" (LIKE '% riv%'),
        # with no pending list for every search to read (migration 0019); SQLite gets
        # a plain index (and, at a clinic's size, a quick scan).
        Index(
            "ix_patients_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
        Index("ix_patients_date_of_birth", "date_of_birth"),
    )


class Episode(Base):
    """An episode of care: a patient's visits no more than `episode_gap_days` apart,
    until a discharge closes it. Its visits share one series of plan messages."""

    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(200))


class Consent(Base):
    """Current consent per channel and purpose; `ConsentEvent` keeps the history."""

    __tablename__ = "consents"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(40))
    changed_by: Mapped[str] = mapped_column(String(100))


class ConsentEvent(Base):
    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(10))
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(40))
    recorded_by: Mapped[str] = mapped_column(String(100))


class Visit(Base):
    __tablename__ = "visits"
    # A campaign segment's patients seen at an office, read from the index alone.
    __table_args__ = (Index("ix_visits_office_patient", "office", "patient_id", "cancelled_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    office: Mapped[str] = mapped_column(String(20))
    clinician: Mapped[str] = mapped_column(String(100))
    visited_at: Mapped[datetime] = mapped_column(index=True)  # outcomes: first visits
    # Comma-separated condition or programme tags, e.g. "lower-back,popping".
    tags: Mapped[str] = mapped_column(String(500), default="")
    plan: Mapped[str] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # The next appointment booked at this visit, if any: rebook nudges wait for it.
    next_appointment_at: Mapped[datetime | None]
    # The patient's answer to the reminder of that appointment: C confirms it, R asks
    # the front desk to move it (an inbox item). Cleared when the appointment changes.
    next_appointment_confirmed_at: Mapped[datetime | None]
    next_appointment_reschedule_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship(back_populates="visits")


class SeriesPause(Base):
    """The patient's plan and campaign messages held back (not alerts, not answers).

    In force while `resumed_at` is None and `until` is in the future."""

    __tablename__ = "series_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    paused_at: Mapped[datetime]
    until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(100))
    resumed_at: Mapped[datetime | None]
    resumed_by: Mapped[str | None] = mapped_column(String(100))
    resume_reason: Mapped[str | None] = mapped_column(Text)
