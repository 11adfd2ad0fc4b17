"""Campaigns: staff choose patients, write the message per language, launch, pause,
resume, cancel (the preview is `followup.campaigns.previews`).

A launch (`followup.campaigns.launches`) writes the campaign's messages into the outbox the
plans use, one row per (campaign, patient, channel); the dispatcher sends them like
any other, after plan messages and staff alerts. Every change is in the audit log
with who and when.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from followup.campaigns.names import new_slug, valid_name
from followup.campaigns.segments import Segment
from followup.care.patients import normalize_email, normalize_phone
from followup.care.plans import PREFERRED
from followup.config import Settings
from followup.content.campaign_text import (
    FALLBACK,
    CampaignText,
    LanguageText,
    dump_texts,
    load_texts,
    validate_texts,
)
from followup.content.render import Renderer
from followup.db import rows_changed
from followup.delivery.channels import DeliveryChannel, Outgoing
from followup.delivery.throttle import ceiling
from followup.exceptions import DeliveryError, InvalidInput
from followup.models.base import Channel, utcnow
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus
from followup.models.staff import AuditEntry

# A campaign message not sent within this long after its slot is skipped, not sent late.
EXPIRES_AFTER = timedelta(days=2)
# The slowest a campaign may go: slower, and it would outlast its own news (and every
# estimate of it).
SLOWEST_RATE = 1 / 60


def create_campaign(session: Session, **details: Any) -> Campaign:
    """Save a draft made of `details` (the keywords of `draft`); the message is
    validated now, so a bad one is refused here."""
    campaign = draft(**details)
    same = session.scalar(
        select(Campaign.name).where(func.lower(Campaign.name) == campaign.name.lower())
    )
    if same is not None:  # "Winter" and "winter" would read as one in every list
        raise InvalidInput(f"a campaign named {same!r} exists")
    campaign.slug = new_slug(session, campaign.name)
    session.add(campaign)
    session.flush()
    languages = ", ".join(sorted(load_texts(campaign.texts))) or "the template's"
    detail = f"{details['segment'].describe()}; texts in {languages}"
    audit(
        session,
        campaign,
        campaign.created_by,
        "create",
        f"{detail}; without one: {campaign.missing_text}",
    )
    return campaign


def draft(
    *,
    settings: Settings,
    renderer: Renderer,
    name: str,
    channel: str,
    segment: Segment,
    by: str,
    template: str | None = None,
    texts: dict[str, LanguageText] | None = None,
    sms_text: str | None = None,
    email_subject: str | None = None,
    email_text: str | None = None,
    missing_text: str = FALLBACK,
    start_at: datetime | None = None,
    rate: float = 1.0,
) -> Campaign:
    """A campaign checked but not saved: what the console previews while staff write it.

    `texts` holds what staff wrote per language; `sms_text`, `email_subject` and
    `email_text` are the English text, for callers that write one language."""
    name = valid_name(name)
    if len(email_subject or "") > 200 or any(
        len(t.subject or "") > 200 for t in (texts or {}).values()
    ):
        raise InvalidInput("an email subject is at most 200 characters")
    if channel not in {Channel.SMS, Channel.EMAIL, PREFERRED}:
        raise InvalidInput(f"channel {channel!r} is not sms, email or preferred")
    _check_rate(rate, channel, settings)
    if not by.strip():
        raise InvalidInput("say who creates the campaign (--by)")
    written = {k: v for k, v in (texts or {}).items() if v.given()}
    english = LanguageText(sms_text, email_subject, email_text)
    if english.given():
        if "en" in written:
            raise InvalidInput("the English text is given twice")
        written["en"] = english
    campaign = Campaign(
        name=name,
        slug="",
        channel=channel,
        template=template,
        texts=dump_texts(written),
        missing_text=missing_text,
        segment=segment.to_json(),
        start_at=start_at or utcnow(),
        rate=rate,
        status=CampaignStatus.DRAFT,
        created_by=by.strip(),
    )
    validate_texts(campaign, renderer, settings)
    return campaign


def _check_rate(rate: float, channel: str, settings: Settings) -> None:
    """At least one message a minute, and for texts no more than the global limit the
    sender keeps."""
    if not math.isfinite(rate):
        raise InvalidInput("the send rate must be a number of messages a second")
    if rate <= 0:
        raise InvalidInput("the send rate must be more than 0 messages a second")
    if rate < SLOWEST_RATE:
        raise InvalidInput(
            f"the send rate must be at least 1 message a minute ({SLOWEST_RATE:.4f} a second)"
        )
    most = ceiling(settings.sms_rate, channel)
    if most is not None and rate > most:
        raise InvalidInput(
            f"the send rate is at most {most:g} a second: the clinic's text sender sends at "
            f"most {most:g} a second (FOLLOWUP_SMS_RATE), so a faster campaign only waits"
        )


def pause(session: Session, campaign: Campaign, *, by: str) -> None:
    """Stop claiming its messages; rows already claimed go back (see dispatch)."""
    _require(campaign, CampaignStatus.RUNNING, "pause")
    campaign.status = CampaignStatus.PAUSED
    audit(session, campaign, by, "pause")


def resume(session: Session, campaign: Campaign, *, by: str, now: datetime | None = None) -> int:
    """Run again, spreading what is left from now at the campaign's rate."""
    _require(campaign, CampaignStatus.PAUSED, "resume")
    if launch_progress(campaign).state in ("queued", "writing"):
        raise InvalidInput(f"campaign {campaign.name!r} is still being launched: resume after")
    remaining = session.scalars(
        select(Message.id)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.SCHEDULED)
        .order_by(Message.due_at, Message.id)
    ).all()
    now = now or utcnow()
    spacing = timedelta(seconds=1 / campaign.rate)
    for position, message_id in enumerate(remaining):
        slot = now + spacing * position
        session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.SCHEDULED)
            .values(due_at=slot, expires_at=slot + EXPIRES_AFTER, updated_at=now)
        )
    campaign.status = CampaignStatus.RUNNING
    audit(session, campaign, by, "resume", f"{len(remaining)} messages rescheduled")
    return len(remaining)


def cancel(session: Session, campaign: Campaign, *, by: str) -> int:
    """Cancel the campaign; its unsent messages end `cancelled`."""
    if campaign.status == CampaignStatus.CANCELLED:
        raise InvalidInput(f"campaign {campaign.name!r} was already cancelled")
    campaign.status = CampaignStatus.CANCELLED
    cancelled = rows_changed(
        session,
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status.in_(PENDING_STATUSES))
        .values(
            status=MessageStatus.CANCELLED,
            last_error=f"campaign cancelled by {by}",
            updated_at=utcnow(),
        ),
    )
    audit(session, campaign, by, "cancel", f"{cancelled} messages cancelled")
    return cancelled


@dataclass(frozen=True)
class LaunchProgress:
    state: str  # "none", "queued" (nothing written yet), "writing" or "done"
    done: int  # reachable patients whose rows are written
    total: int | None  # reachable patients, once writing started


def launch_progress(campaign: Campaign) -> LaunchProgress:
    if campaign.launch_requested_at is None:
        state = "none"
    elif campaign.launch_finished_at is not None:
        state = "done"
    else:
        state = "writing" if campaign.launch_total is not None else "queued"
    return LaunchProgress(state, campaign.launch_done, campaign.launch_total)


def progress(session: Session, campaign: Campaign) -> dict[str, int]:
    rows = session.execute(
        select(Message.status, func.count())
        .where(Message.campaign_id == campaign.id)
        .group_by(Message.status)
    ).all()
    return {status: count for status, count in sorted(rows)}


def audit(
    session: Session, campaign: Campaign | None, by: str, action: str, detail: str = ""
) -> None:
    if not by.strip():
        raise InvalidInput(f"say who does the {action} (--by)")
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=by.strip(),
            action=action,
            campaign_id=campaign.id if campaign else None,
            detail=detail,
        )
    )


def _require(campaign: Campaign, status: CampaignStatus, action: str) -> None:
    if campaign.status != status:
        raise InvalidInput(f"cannot {action} campaign {campaign.name!r}: it is {campaign.status}")


def test_send(
    session: Session,
    campaign: Campaign,
    *,
    settings: Settings,
    renderer: Renderer,
    channels: dict[Channel, DeliveryChannel],
    to: str,
    by: str,
    language: str = "en",
) -> str:
    """Send the campaign's message to a staff member's phone or email only.

    It does not go through the outbox (no patient is involved); the audit log keeps
    what was sent, to whom and the provider's answer.
    """
    channel = Channel.EMAIL if "@" in to else Channel.SMS
    address = normalize_email(to) if channel is Channel.EMAIL else normalize_phone(to)
    if campaign.channel not in (channel.value, PREFERRED):
        raise InvalidInput(
            f"campaign {campaign.name!r} sends {campaign.channel}, not {channel.value}"
        )
    message = CampaignText(campaign, renderer, settings).sample(
        channel, first_name="Test", language=language
    )
    outgoing = Outgoing(0, address, message.body, message.subject, message.html)
    try:
        with channels[channel].connect() as send:
            provider_id = send(outgoing)
    except DeliveryError as exc:
        audit(session, campaign, by, "test-send", f"to {address} failed: {exc.reason}")
        raise
    audit(session, campaign, by, "test-send", f"to {address}: {provider_id}")
    return provider_id
