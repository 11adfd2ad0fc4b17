"""What the processes leave for their operators: beat's ticks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from followup.models.base import Base


class Tick(Base):
    """When one of beat's periodic tasks last ran: one row per tick, updated in place."""

    __tablename__ = "ticks"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    ran_at: Mapped[datetime]
    took_seconds: Mapped[float] = mapped_column(Float)
    runs: Mapped[int] = mapped_column(Integer)
