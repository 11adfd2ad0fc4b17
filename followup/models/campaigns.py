"""Campaigns staff send to a segment of patients."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Float,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base, utcnow


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Campaign(Base):
    """Staff outreach to a segment of patients, sent through the same outbox."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # a label: any printable text
    # What URLs, the API and the command line address it by: derived from the name
    # when it is created, unique, never changed (`followup.campaigns.slugs`).
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms, email or preferred
    # Either a template under templates/, or text staff wrote (rendered sandboxed), per
    # language: JSON {"en": {"sms": ..., "subject": ..., "email": ...}, "es": ...}.
    template: Mapped[str | None] = mapped_column(String(100))
    texts: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    # A patient whose language has no text: "fallback" (another language's) or "skip".
    missing_text: Mapped[str] = mapped_column(
        String(10), default="fallback", server_default="fallback"
    )
    segment: Mapped[str] = mapped_column(Text)  # JSON of followup.campaigns.segments.Segment
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
