"""Why a running campaign's messages have not gone yet, and when they should.

Each waiting message is put under one reason, in this order: the campaign is paused;
claimed and waiting for the sender's global limit (throttle); due now but queued
behind earlier messages (alerts and plan texts go first); moved by the frequency cap
to a later day; held by the patient's quiet hours; or not yet at its slot at the
campaign's rate. Each reason comes with how many and when they should go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.campaigns.estimates import WAITING, texts_ahead
from followup.config import Settings
from followup.delivery.throttle import ceiling
from followup.models.base import Channel
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.care import Patient
from followup.models.outbox import Message, MessageStatus
from followup.schedule import into_sending_window

CAPPED_PREFIX = "frequency cap"


@dataclass(frozen=True)
class Wait:
    reason: str
    count: int
    from_: datetime | None  # when the first of them should go (None: not while paused)
    until: datetime | None  # when the last should


def why_waiting(
    session: Session, campaign: Campaign, *, settings: Settings, now: datetime
) -> list[Wait]:
    rows = session.execute(
        select(
            Message.status, Message.channel, Message.due_at, Message.last_error, Patient.timezone
        )
        .join(Patient, Patient.id == Message.patient_id)
        .where(Message.campaign_id == campaign.id, Message.status.in_(WAITING))
        .order_by(Message.due_at)
    ).all()
    if not rows:
        return []
    if campaign.status == CampaignStatus.PAUSED:
        return [Wait("paused: nothing goes until it is resumed", len(rows), None, None)]
    limit = ceiling(settings.sms_rate, Channel.SMS.value)
    gap = timedelta(seconds=1 / limit) if limit else timedelta(0)
    window = (settings.quiet_hours_start, settings.quiet_hours_end)
    groups: dict[str, list[datetime]] = {}
    ahead = texts_ahead(session, campaign, until=now)
    for status, channel, due_at, last_error, timezone in rows:
        if status != MessageStatus.SCHEDULED:
            key = "throttle: claimed, waiting its turn at the sender's limit"
        elif due_at <= now and not ahead:
            key = "due now: goes with the next dispatch"
        elif due_at <= now:
            key = f"queued behind {ahead:,} earlier messages (alerts and plan texts go first)"
            due_at = now + gap * ahead
        elif (last_error or "").startswith(CAPPED_PREFIX):
            key = f"held by the {last_error}"
        elif channel == Channel.SMS and _quiet(due_at, ZoneInfo(timezone), now, window):
            key = f"quiet hours until {window[0]:%H:%M} (the patient's time)"
        else:
            key = f"waiting for its slot at the campaign's rate ({campaign.rate:g} a second)"
        groups.setdefault(key, []).append(due_at)
    waits = []
    for reason, times in groups.items():
        # Texts that come due together leave one at a time at the sender's limit.
        waits.append(Wait(reason, len(times), min(times), max(times) + gap * len(times)))
    return sorted(waits, key=lambda w: (w.from_ or now, w.reason))


def _quiet(due_at: datetime, zone: ZoneInfo, now: datetime, window: tuple[time, time]) -> bool:
    """Whether the patient is in quiet hours now and the text waits for their window."""
    opens = into_sending_window(now, zone=zone, start=window[0], end=window[1])
    return opens > now and due_at >= opens - timedelta(seconds=1)
