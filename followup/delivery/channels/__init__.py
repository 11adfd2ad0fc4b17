"""Delivery channels behind one small interface.

A channel opens a connection for a batch and sends `Outgoing` messages through it,
returning the provider's id or raising one of the `DeliveryError` branches. A channel
that can look up what it sent (`lookup`) lets an ambiguous failure be settled without
a blind resend; which of the matches is ours, reconciliation decides.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from followup.config import Settings
from followup.models.base import Channel


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    to: str
    body: str  # the SMS text, or the plain-text part of an email
    subject: str | None = None
    html: str | None = None
    unsubscribe_url: str | None = None
    # Equal for texts a patient would read as the same (see `followup.delivery.compose`).
    fingerprint: str = ""


Send = Callable[[Outgoing], str]


class DeliveryChannel(Protocol):
    kind: Channel
    # Who sends, as the carrier counts it: the rate limit is per sender.
    sender: str
    # How many sends one batch may have in flight at once.
    concurrency: int

    def connect(self) -> AbstractContextManager[Send]:
        """A sender for one batch; it must be safe to call from `concurrency` threads."""
        ...

    def lookup(self, outgoing: Outgoing, *, since: datetime) -> list[str] | None:
        """The provider ids of every message to `outgoing.to` with its text created
        since `since` (a sibling's identical text among them); None when the channel has
        no way to ask. Raises `AmbiguousDeliveryError` when asking failed this time.
        """
        ...


def build_channels(settings: Settings) -> dict[Channel, DeliveryChannel]:
    from followup.delivery.channels.console import ConsoleChannel
    from followup.delivery.channels.email import SmtpEmail
    from followup.delivery.channels.sms import TwilioSms

    sms: DeliveryChannel = (
        TwilioSms(settings) if settings.sms_backend == "twilio" else ConsoleChannel(Channel.SMS)
    )
    email: DeliveryChannel = (
        SmtpEmail(settings) if settings.email_backend == "smtp" else ConsoleChannel(Channel.EMAIL)
    )
    return {Channel.SMS: sms, Channel.EMAIL: email}
