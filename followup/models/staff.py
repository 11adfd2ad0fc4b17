"""Staff members, their sessions, API tokens, role policies and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base, utcnow


class AuditEntry(Base):
    """Who did what, when, from which address, to which patient, campaign or message."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    # The client address the request came from (behind a trusted proxy, the one it names).
    address: Mapped[str | None] = mapped_column(String(45))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Role(StrEnum):
    """What each may do is `followup.staff.access`'s table."""

    STAFF = "staff"  # front desk: inbox, patients, campaigns, answers
    CLINICIAN = "clinician"  # also acknowledges alerts, reads replies and pain history
    ADMIN = "admin"  # also manages staff, tokens and second-factor policy


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
    # The last TOTP time step accepted: a code is good once, never replayed.
    totp_last_step: Mapped[int | None]
    # The member's own phone and email, set by an admin (who vouches for them): the only
    # places a campaign's test-send goes.
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320))
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
    # A status line the server chose, shown once on the next page (never one from a URL).
    flash: Mapped[str | None] = mapped_column(String(300))
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
