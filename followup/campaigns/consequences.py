"""What launching, pausing, resuming or cancelling a campaign will do to how many
patients, in the words a confirmation shows before it is done ("Send to 933 patients:
801 by text, 132 by email; this cannot be undone"): the console's confirmation page and
the command line's question say the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.campaigns.previews import preview
from followup.config import Settings
from followup.content.campaign_text import language_name
from followup.content.render import Renderer
from followup.models.campaigns import Campaign
from followup.models.outbox import PENDING_STATUSES, Message, MessageStatus

Action = Literal["launch", "pause", "resume", "cancel"]
CHANNEL_WORDS = {"sms": "by text", "email": "by email"}


@dataclass(frozen=True)
class Consequence:
    """The sentence to read first, and the lines under it."""

    headline: str
    details: list[str]


def consequence(
    session: Session,
    campaign: Campaign,
    action: Action,
    *,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> Consequence:
    """What `action` will do to `campaign`, counted now: a launch's recipients from
    its preview (with the languages, who is left out and the estimate), the other
    actions' messages from the outbox."""
    if action == "launch":
        shown = preview(session, campaign, settings=settings, renderer=renderer, now=now)
        channels = ", ".join(
            f"{n:,} {CHANNEL_WORDS[c]}" for c, n in sorted(shown.recipients.items(), reverse=True)
        )
        details = [
            f"{language_name(language)}: {n:,}" for language, n in sorted(shown.languages.items())
        ]
        details += [f"Left out: {n:,} {reason}" for reason, n in shown.excluded.most_common()]
        if shown.estimate is not None:
            details += shown.estimate.lines(ZoneInfo(settings.clinic_timezone), now)
        if not shown.total:
            return Consequence(shown.explanation() or "0 recipients", details)
        return Consequence(
            f"Send to {shown.total:,} patients: {channels}; this cannot be undone.", details
        )
    waiting = _count(session, campaign, PENDING_STATUSES)
    if action == "pause":
        return Consequence(
            f"Pause: {waiting:,} waiting messages stay unsent until you resume.",
            ["Messages already handed to the provider still go."],
        )
    if action == "resume":
        left = _count(session, campaign, (MessageStatus.SCHEDULED,))
        return Consequence(
            f"Resume: {left:,} messages will be sent, spread from now at "
            f"{campaign.rate:g} a second.",
            [],
        )
    return Consequence(
        f"Cancel: {waiting:,} unsent messages will never be sent; this cannot be undone.",
        ["A cancelled campaign cannot be launched again."],
    )


def _count(session: Session, campaign: Campaign, statuses: tuple[MessageStatus, ...]) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.campaign_id == campaign.id, Message.status.in_(statuses))
        )
        or 0
    )
