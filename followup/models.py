"""SQLAlchemy models: patients, consent, visits and the message outbox.

The schema itself is created and evolved by the Alembic migrations in `migrations/`;
these classes must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC; refuses naive values on the way in.

    SQLite has no time zones, so both databases store the same naive UTC value.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Purpose(StrEnum):
    CARE = "care"
    CAMPAIGN = "campaign"
    # A notification to on-call staff about a patient's reply.
    ALERT = "alert"
    # A staff member's own answer to a patient, written in the console (care consent).
    ANSWER = "answer"


class Office(StrEnum):
    JERSEY_CITY = "jersey-city"
    HOBOKEN = "hoboken"
    WEEHAWKEN = "weehawken"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").title()


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


class Triage(StrEnum):
    EMERGENCY = "emergency"
    ATTENTION = "attention"
    ROUTINE = "routine"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


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
    discharged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    visits: Mapped[list[Visit]] = relationship(back_populates="patient")


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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    office: Mapped[str] = mapped_column(String(20))
    clinician: Mapped[str] = mapped_column(String(100))
    visited_at: Mapped[datetime]
    # Comma-separated condition or programme tags, e.g. "lower-back,popping".
    tags: Mapped[str] = mapped_column(String(500), default="")
    plan: Mapped[str] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # The next appointment booked at this visit, if any: rebook nudges wait for it.
    next_appointment_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship(back_populates="visits")


class Message(Base):
    """One planned SMS or email: the outbox row every state change goes through."""

    __tablename__ = "messages"
    __table_args__ = (
        # One series per episode of care: a plan step goes out once per episode.
        UniqueConstraint("episode_id", "step", "channel", name="uq_messages_episode_step_channel"),
        UniqueConstraint(
            "campaign_id", "patient_id", "channel", name="uq_messages_campaign_patient_channel"
        ),
        Index("ix_messages_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    # For a plan message: the episode's latest visit, which its times and text follow.
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    step: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(100))
    # The step may move to email if the SMS is refused or undelivered.
    email_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.SCHEDULED)
    due_at: Mapped[datetime]
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


class Reply(Base):
    """What a patient (or an unknown sender) said back, as received."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Twilio's MessageSid, or a key for a one-tap email answer: duplicates are dropped.
    provider_id: Mapped[str] = mapped_column(String(80), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    from_address: Mapped[str] = mapped_column(String(320))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    body: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str | None] = mapped_column(String(10))
    pain: Mapped[int | None] = mapped_column(Integer)
    triage: Mapped[str | None] = mapped_column(String(10))
    reasons: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    # The inbox: who is looking after it, and who marked it handled.
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(100))


class Alert(Base):
    """A reply staff must act on; one per reply at most."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
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


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Campaign(Base):
    """Staff outreach to a segment of patients, sent through the same outbox."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms, email or preferred
    # Either a template under templates/, or text staff wrote (rendered sandboxed).
    template: Mapped[str | None] = mapped_column(String(100))
    sms_text: Mapped[str | None] = mapped_column(Text)
    email_subject: Mapped[str | None] = mapped_column(String(200))
    email_text: Mapped[str | None] = mapped_column(Text)
    segment: Mapped[str] = mapped_column(Text)  # JSON of followup.segments.Segment
    start_at: Mapped[datetime]
    rate: Mapped[float] = mapped_column(Float)  # messages per second
    status: Mapped[str] = mapped_column(String(10), default=CampaignStatus.DRAFT)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The last launch: asked for when; how many reachable patients it found (None until
    # it starts writing), how many of them it has written, when it finished.
    launch_requested_at: Mapped[datetime | None]
    launch_total: Mapped[int | None] = mapped_column(Integer)
    launch_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    launch_finished_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what to a campaign or a message, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Role(StrEnum):
    STAFF = "staff"  # front desk: inbox, patients, campaigns, answers
    CLINICIAN = "clinician"  # also acknowledges alerts, reads replies and pain history
    ADMIN = "admin"  # also manages staff, tokens and second-factor policy

    def may(self, needed: Role) -> bool:
        """Whether this role includes what `needed` may do."""
        order = [Role.STAFF, Role.CLINICIAN, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class StaffMember(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Argon2id; None until a first password is set (CLI prompt or one-time link).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # A base32 TOTP secret once the second factor is set up.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    disabled_at: Mapped[datetime | None]


class RolePolicy(Base):
    """What signing in takes for a role; set by an admin."""

    __tablename__ = "role_policies"

    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    totp_required: Mapped[bool] = mapped_column(Boolean, default=False)


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its hash."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    # Every form carries it; a POST without it changes nothing.
    csrf_token: Mapped[str] = mapped_column(String(64))
    # Password given; the second factor too when `verified`.
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ApiToken(Base):
    """A staff member's API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
