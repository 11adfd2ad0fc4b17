"""The message outbox: one row per message to send, with its state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base, utcnow


class Purpose(StrEnum):
    CARE = "care"
    CAMPAIGN = "campaign"
    # A notification to on-call staff about a patient's reply.
    ALERT = "alert"
    # A staff member's own answer to a patient, written in the console (care consent).
    ANSWER = "answer"


class MessageStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    UNKNOWN = "unknown"


PENDING_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED)
# Plan messages still to go (`PENDING_STATUSES`, `Purpose.CARE`), in SQL: the
# predicate of the frequency cap's partial index.
PENDING_CARE = "status IN ('scheduled', 'queued') AND purpose = 'care'"


class Message(Base):
    """One planned SMS or email: the outbox row every state change goes through."""

    __tablename__ = "messages"
    __table_args__ = (
        # One series per episode of care: a plan step goes out once per episode.
        UniqueConstraint("episode_id", "step", "channel", name="uq_messages_episode_step_channel"),
        UniqueConstraint(
            "campaign_id", "patient_id", "channel", name="uq_messages_campaign_patient_channel"
        ),
        # The outbox's due messages, and the texts waiting ahead of a campaign.
        Index(
            "ix_messages_status_due_at_channel_campaign",
            "status",
            "due_at",
            "channel",
            "campaign_id",
        ),
        # The health page: failures by code since a day.
        Index("ix_messages_status_updated_at", "status", "updated_at"),
        # The outcomes page: an episode's check-ins and programme reminders.
        Index("ix_messages_episode_template_status", "episode_id", "template", "status"),
        # The frequency cap's days: the patients' messages sent since a day, and their
        # plan messages still to go (read from the index alone on PostgreSQL).
        Index(
            "ix_messages_patient_attempted_at",
            "patient_id",
            "attempted_at",
            postgresql_include=["channel", "purpose", "status"],
            postgresql_where=text("attempted_at IS NOT NULL"),
            sqlite_where=text("attempted_at IS NOT NULL"),
        ),
        Index(
            "ix_messages_patient_pending_care",
            "patient_id",
            "due_at",
            postgresql_include=["id", "channel", "step"],
            postgresql_where=text(PENDING_CARE),
            sqlite_where=text(PENDING_CARE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None only for a staff notification about a reply from an unknown number.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    # For a plan message: the episode's latest visit, which its times and text follow.
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    # For a staff notice (purpose `alert`): the alert it tells about. No foreign key:
    # alerts -> replies -> messages already point the other way round.
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    step: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(100))
    # The step may move to email if the SMS is refused or undelivered.
    email_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.SCHEDULED)
    due_at: Mapped[datetime] = mapped_column(index=True)  # the health page: due since
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    # What the patient reads, without this message's own links: equal texts, equal keys.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Staff meant this text to go out again, even if the patient just had it.
    allow_repeat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A clinician's safety call-back text goes out even in the patient's quiet hours.
    ignore_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The provider's id for this send; a provider message belongs to one row at most.
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    error_code: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The send task holding a queued or sending row, and until when; past that the
    # holder is presumed dead and the row is recovered.
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None]
    # When reconciliation next asks the provider about an unknown row; None: staff decide.
    settle_at: Mapped[datetime | None] = mapped_column(index=True)
    attempted_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The outbox as a Core table, for bulk statements in the send path.
MESSAGES = cast(Table, Message.__table__)
