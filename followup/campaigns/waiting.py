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

from sqlalchemy import case, func, select
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
    """The campaign's waiting messages by reason, counted in the database (a group per
    state, channel, due or not, cap reason and time zone), so a large campaign's page
    refreshes without reading its rows."""
    capped = case((Message.last_error.like(f"{CAPPED_PREFIX}%"), Message.last_error))
    due = Message.due_at <= now
    keys = (Message.status, Message.channel, due, capped, Patient.timezone)
    groups = session.execute(
        select(*keys, func.count(), func.min(Message.due_at), func.max(Message.due_at))
        .join(Patient, Patient.id == Message.patient_id)
        .where(Message.campaign_id == campaign.id, Message.status.in_(WAITING))
        .group_by(*keys)
    ).all()
    if not groups:
        return []
    if campaign.status == CampaignStatus.PAUSED:
        total = sum(group[5] for group in groups)
        return [Wait("paused: nothing goes until it is resumed", total, None, None)]
    limit = ceiling(settings.sms_rate, Channel.SMS.value)
    gap = timedelta(seconds=1 / limit) if limit else timedelta(0)
    window = (settings.quiet_hours_start, settings.quiet_hours_end)
    ahead = texts_ahead(session, campaign, until=now)
    waits: dict[str, tuple[int, datetime, datetime]] = {}
    for status, channel, is_due, cap_reason, timezone, count, first, last in groups:
        if status != MessageStatus.SCHEDULED:
            key = "throttle: claimed, waiting its turn at the sender's limit"
        elif is_due and not ahead:
            key = "due now: goes with the next dispatch"
        elif is_due:
            key = f"queued behind {ahead:,} earlier messages (alerts and plan texts go first)"
            first = last = now + gap * ahead
        elif cap_reason:
            key = f"held by the {cap_reason}"
        elif channel == Channel.SMS and _quiet(first, ZoneInfo(timezone), now, window):
            key = f"quiet hours until {window[0]:%H:%M} (the patient's time)"
        else:
            key = f"waiting for its slot at the campaign's rate ({campaign.rate:g} a second)"
        held, low, high = waits.get(key, (0, first, last))
        waits[key] = (held + count, min(low, first), max(high, last))
    # Texts that come due together leave one at a time at the sender's limit.
    found = [Wait(k, n, low, high + gap * n) for k, (n, low, high) in waits.items()]
    return sorted(found, key=lambda w: (w.from_ or now, w.reason))


def _quiet(due_at: datetime, zone: ZoneInfo, now: datetime, window: tuple[time, time]) -> bool:
    """Whether the patient is in quiet hours now and the text waits for their window."""
    opens = into_sending_window(now, zone=zone, start=window[0], end=window[1])
    return opens > now and due_at >= opens - timedelta(seconds=1)
