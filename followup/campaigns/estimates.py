"""How long a campaign will take to go out, as a range, and what holds it.

A campaign's texts share the sender with everything else: the clinic's global limit
(`FOLLOWUP_SMS_RATE`) sends alerts and plan texts before campaigns, so a campaign
waits behind every text already due, goes no faster than the limit whatever its own
rate, and while it sends, plan texts coming due go first. A text whose turn falls in
the patient's quiet hours waits for their window; a patient whose frequency cap has no
room that day gets it on a later day. The estimate walks the recipients in the order
the launch gives them slots, and says when it could start, a finish range (the
earliest if nothing else comes due; the latest if every plan text due meanwhile goes
first, following each push), and how many recipients quiet hours and the cap hold.
Emails share none of that but their own cap (if the clinic sets one): an email-only
campaign goes at its own rate from its start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from followup.config import Settings
from followup.delivery.caps import FrequencyCaps, without_room
from followup.delivery.throttle import ceiling
from followup.models.base import Channel
from followup.models.campaigns import Campaign, CampaignStatus
from followup.models.outbox import Message, MessageStatus
from followup.schedule import into_sending_window

WAITING = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING)
# Rounds of "the texts coming due before the end push it later" counted: plan texts
# that come due faster than the limit sends would push it for ever.
MAX_PUSHES = 8


class Send(NamedTuple):
    """One recipient, in launch order."""

    patient_id: int
    channel: Channel
    timezone: str


@dataclass(frozen=True)
class Estimate:
    starts: datetime  # when its first message can go
    texts_start: datetime | None  # when its first text can go; None: it sends no texts
    emails_start: datetime | None  # when its first email can go; None: it sends no emails
    earliest: datetime  # everything sent, if nothing else comes due meanwhile
    latest: datetime  # everything sent, if every text coming due meanwhile goes first
    asked: float  # the campaign's own rate
    rate: float  # messages a second it gets: its own rate, bounded by the global limit
    limit: float | None  # the global limit (texts a second); None: unlimited, or no texts
    ahead: int  # texts due before it, of higher or equal priority
    quiet: int  # texts whose turn falls in the patient's quiet hours
    quiet_opens: datetime | None  # the first window they wait for
    capped: int  # recipients the frequency cap holds to a later day
    cap_rule: str  # the cap, in words
    quiet_start: time  # when the sending window opens, patients' time

    def lines(self, zone: ZoneInfo, now: datetime) -> list[str]:
        """The estimate in words, times on the clinic's clock (`zone`)."""
        said = [self._start(zone)]
        span = f"{_span(self.earliest, now)} to {_span(self.latest, now)}"
        if self.latest - self.earliest < timedelta(minutes=1):
            said.append(
                f"All sent by about {_clock(self.earliest, zone)} ({_span(self.earliest, now)})."
            )
        else:
            said.append(
                f"All sent between {_clock(self.earliest, zone)} and {_clock(self.latest, zone)}"
                f" ({span}; the later if plan texts coming due meanwhile go first)."
            )
        if self.quiet and self.quiet_opens:
            texts = "1 text waits" if self.quiet == 1 else f"{self.quiet:,} texts wait"
            said.append(
                f"{texts} for quiet hours to end ({self.quiet_start:%H:%M} the patient's "
                f"time; the first at {_clock(self.quiet_opens, zone)})."
            )
        if self.capped:
            held = "1 recipient is" if self.capped == 1 else f"{self.capped:,} recipients are"
            said.append(
                f"{held} held by the frequency cap ({self.cap_rule}) to a later day, or "
                "skipped if no day has room before the message expires."
            )
        return said

    def _start(self, zone: ZoneInfo) -> str:
        """When it starts and how fast it goes, on each channel it sends by."""
        if self.texts_start is None:
            return (
                f"Emails start about {_clock(self.starts, zone)}; at {self.rate:g} a second, "
                "the campaign's rate (emails have no send limit)."
            )
        texts = f"about {_clock(self.texts_start, zone)}"
        if self.ahead:
            texts += f", behind {self.ahead:,} texts already due (alerts and plan texts go first)"
        limit = (
            f"the clinic's send limit is {self.limit:g} a second" if self.limit else "no send limit"
        )
        pace = f"at {self.rate:g} a second ({limit}; this campaign asks {self.asked:g})"
        if self.emails_start is None:
            return f"Texts start {texts}; {pace}."
        return (
            f"Emails start about {_clock(self.emails_start, zone)} and texts {texts}; texts {pace}."
        )


def estimate(
    session: Session,
    campaign: Campaign,
    sends: Sequence[Send],
    *,
    settings: Settings,
    now: datetime,
) -> Estimate:
    start = max(campaign.start_at, now)
    channels = {send.channel for send in sends} or _channels_of(campaign.channel)
    texting = Channel.SMS in channels
    limit = ceiling(settings.sms_rate, Channel.SMS.value) if texting else None
    gap = timedelta(seconds=1 / limit) if limit else timedelta(0)
    spacing = timedelta(seconds=1 / campaign.rate)
    ahead = texts_ahead(session, campaign, until=start) if texting else 0
    free_at = start + ahead * gap
    window = (settings.quiet_hours_start, settings.quiet_hours_end)
    finish, texts = start, 0
    # When each channel's first message can go; with no recipients, the campaign's start.
    firsts = dict.fromkeys(channels, start) if not sends else {}
    held: Counter[datetime] = Counter()
    # Per channel, each recipient's zone and when their message goes (for the cap).
    times: dict[Channel, dict[int, tuple[ZoneInfo, datetime]]] = {c: {} for c in Channel}
    for position, send in enumerate(sends):
        at = start + spacing * position
        zone = ZoneInfo(send.timezone)
        if send.channel is Channel.SMS:
            at = max(at, free_at + gap * texts)
            texts += 1
            opens = into_sending_window(at, zone=zone, start=window[0], end=window[1])
            times[Channel.SMS][send.patient_id] = (zone, opens)
            firsts[Channel.SMS] = min(firsts.get(Channel.SMS, opens), opens)
            if opens != at:
                held[opens] += 1
                continue
        else:
            times[send.channel][send.patient_id] = (zone, at)
            firsts.setdefault(send.channel, at)  # emails keep launch order
        finish = max(finish, at)
    for opens, count in sorted(held.items()):
        finish = max(finish, opens + gap * count)
    caps = FrequencyCaps(settings)
    capping = [c for c in Channel if times[c] and caps.caps[c].limits]
    return Estimate(
        asked=campaign.rate,
        quiet_start=window[0],
        starts=min(firsts.values()),
        texts_start=firsts.get(Channel.SMS),
        emails_start=firsts.get(Channel.EMAIL),
        earliest=finish,
        latest=_latest(session, campaign, start=start, finish=finish, gap=gap),
        rate=min(campaign.rate, limit) if limit else campaign.rate,
        limit=limit,
        ahead=ahead,
        quiet=sum(held.values()),
        quiet_opens=min(held) if held else None,
        capped=sum(without_room(session, caps, c, times[c], now=now) for c in capping),
        cap_rule="; ".join(caps.caps[c].describe(c) for c in capping),
    )


def _latest(
    session: Session, campaign: Campaign, *, start: datetime, finish: datetime, gap: timedelta
) -> datetime:
    """When the campaign's last text goes if every plan text coming due before it goes
    first: each one pushes the end by a `gap`, and so lets more come due before it."""
    latest = finish
    for _ in range(MAX_PUSHES if gap else 0):
        pushed = finish + gap * texts_ahead(session, campaign, after=start, until=latest)
        if pushed <= latest:
            break
        latest = pushed
    return latest


def texts_ahead(
    session: Session, campaign: Campaign, *, until: datetime, after: datetime | None = None
) -> int:
    """Texts waiting to go that are due by `until` (and after `after`) and go before
    this campaign's: everything but this campaign and campaigns not running."""
    running = select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)
    query = (
        select(func.count())
        .select_from(Message)
        .where(
            Message.channel == Channel.SMS,
            Message.status.in_(WAITING),
            Message.due_at <= until,
            or_(Message.campaign_id.is_(None), Message.campaign_id.in_(running)),
            or_(Message.campaign_id.is_(None), Message.campaign_id != campaign.id),
        )
    )
    if after is not None:
        query = query.where(Message.due_at > after, Message.campaign_id.is_(None))
    return session.scalar(query) or 0


def _channels_of(wanted: str) -> set[Channel]:
    """The channels a campaign sending by `wanted` (a channel or "preferred") may use."""
    return {Channel(wanted)} if wanted in {c.value for c in Channel} else set(Channel)


def _clock(moment: datetime, zone: ZoneInfo) -> str:
    """On the clinic's clock with its zone, as the console shows times: "Fri Nov 20
    10:01 AM EST"."""
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day} {local.hour % 12 or 12}:{local:%M %p %Z}"


def _span(moment: datetime, now: datetime) -> str:
    seconds = max(0, round((moment - now).total_seconds()))
    if seconds < 90:
        return f"{seconds} s from now"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min from now"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h from now"
    return f"{minutes / 60 / 24:.1f} days from now"
