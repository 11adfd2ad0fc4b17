"""Patients' replies, the alerts they raise and each alert's history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base


class Triage(StrEnum):
    EMERGENCY = "emergency"
    ATTENTION = "attention"
    ROUTINE = "routine"


class Reply(Base):
    """What a patient (or an unknown sender) said back, as received."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Twilio's MessageSid, or a key for a one-tap email answer: duplicates are dropped.
    provider_id: Mapped[str] = mapped_column(String(80), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    from_address: Mapped[str] = mapped_column(String(320))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str | None] = mapped_column(String(10))
    pain: Mapped[int | None] = mapped_column(Integer)
    triage: Mapped[str | None] = mapped_column(String(10))
    reasons: Mapped[str] = mapped_column(Text, default="")
    # Which readers found an emergency ("rules", "model", "rules model" or "") and the
    # second reader's probability that it is one (see followup.replies.second_reader).
    readers: Mapped[str] = mapped_column(String(20), default="", server_default="")
    model_probability: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(index=True)  # the inbox: newest first
    # The automatic answer sent back at once (the TwiML reply), as the patient read it.
    answer: Mapped[str | None] = mapped_column(Text)
    # The inbox: who is looking after it, and who marked it handled.
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(100))


class Alert(Base):
    """A reply staff must act on; one per reply at most."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"), unique=True)
    # None: the reply came from a number that matches no patient.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    # When a notification was first queued to someone; None: nobody has been told.
    notified_at: Mapped[datetime | None]
    # 0: on-call told; 1: told again; 2 and on: the second tier told too.
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    # When to escalate unless acknowledged first; None once acknowledged or given up.
    escalate_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))


class AlertEvent(Base):
    """One step in an alert's life: notified, repeated, escalated, acknowledged."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(100))
