"""Whether a claimed message may go out now: the patient-first rules, pure.

Checked at the moment of sending, not only at enrolment: consent can be revoked,
a message can be delayed past its sending window or its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from followup.config import Settings
from followup.models import Channel, Message, Patient
from followup.schedule import into_sending_window


@dataclass(frozen=True)
class Send:
    to: str


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


Decision = Send | Skip | Defer


def decide(
    message: Message, patient: Patient, *, consented: bool, now: datetime, settings: Settings
) -> Decision:
    channel = Channel(message.channel)
    if now >= message.expires_at:
        return Skip(f"expired at {message.expires_at:%Y-%m-%d %H:%M} UTC before it could be sent")
    if patient.discharged_at is not None:
        return Skip("patient discharged")
    address = patient.phone if channel is Channel.SMS else patient.email
    if not address:
        return Skip("no phone number" if channel is Channel.SMS else "no email address")
    if not consented:
        return Skip(f"no {channel.value} consent for {message.purpose} messages")
    if channel is Channel.SMS:
        opens = into_sending_window(
            now,
            zone=ZoneInfo(patient.timezone),
            start=settings.quiet_hours_start,
            end=settings.quiet_hours_end,
        )
        if opens != now:
            if opens >= message.expires_at:
                return Skip("expired: the sending window opens after the step's expiry")
            return Defer(opens, "outside the patient's sending hours")
    return Send(address)
