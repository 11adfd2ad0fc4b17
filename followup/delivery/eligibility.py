"""Whether a claimed message may go out now: the patient-first rules, pure.

Checked at the moment of sending, not only at enrolment: consent can be revoked,
a message can be delayed past its sending window or its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from followup.config import Settings
from followup.models.base import Channel
from followup.models.outbox import Purpose
from followup.schedule import into_sending_window


@dataclass(frozen=True)
class SendTo:
    to: str


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


Decision = SendTo | Skip | Defer


def decide(
    *,
    channel: Channel,
    purpose: str,
    expires_at: datetime,
    address: str | None,
    discharged: bool,
    consented: bool,
    zone: ZoneInfo,
    now: datetime,
    settings: Settings,
    ignore_quiet_hours: bool = False,
) -> Decision:
    """Send to `address` now, skip for good (with the reason), or wait for the window."""
    if now >= expires_at:
        return Skip(f"expired at {expires_at:%Y-%m-%d %H:%M} UTC before it could be sent")
    if discharged:
        return Skip("patient discharged")
    if not address:
        return Skip("no phone number" if channel is Channel.SMS else "no email address")
    if not consented:
        return Skip(f"no {channel.value} consent for {purpose} messages")
    # Staff alerts go out at any hour; patients get texts only in their window, unless
    # a clinician sends a safety call-back text (recorded in the audit log).
    if channel is Channel.SMS and purpose != Purpose.ALERT and not ignore_quiet_hours:
        opens = into_sending_window(
            now, zone=zone, start=settings.quiet_hours_start, end=settings.quiet_hours_end
        )
        if opens != now:
            if opens >= expires_at:
                return Skip("expired: the sending window opens after the step's expiry")
            return Defer(opens, "outside the patient's sending hours")
    return SendTo(address)
