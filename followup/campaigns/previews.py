"""What a campaign would do, before it does it: who receives it, in which language and
on which channel, who is left out and why, samples rendered for real recipients of
each language, and how long it would take (`followup.campaigns.estimates`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from followup.campaigns.estimates import Estimate, Send, estimate
from followup.campaigns.reach import NEVER_ASKED, why_not
from followup.campaigns.segments import Segment, candidates_with_channel
from followup.config import Settings
from followup.content.campaign_text import SKIP, CampaignText, language_name
from followup.content.render import Renderer
from followup.models.base import Channel, utcnow
from followup.models.campaigns import Campaign

SAMPLES_PER_LANGUAGE = 2


@dataclass(frozen=True)
class Sample:
    name: str
    channel: str
    language: str  # the patient's
    written_in: str  # the text's: another one when theirs has none
    body: str
    subject: str | None


@dataclass
class Preview:
    recipients: Counter[str] = field(default_factory=Counter)  # per channel
    languages: Counter[str] = field(default_factory=Counter)  # recipients per language
    excluded: Counter[str] = field(default_factory=Counter)  # why not, how many
    without_text: Counter[str] = field(default_factory=Counter)  # per language with none
    missing_text: str = ""  # what happens to them: fallback or skip
    fallback: str | None = None  # the language they get, on fallback
    samples: list[Sample] = field(default_factory=list)
    segment_size: int = 0
    estimate: Estimate | None = None

    @property
    def total(self) -> int:
        return sum(self.recipients.values())

    def explanation(self) -> str | None:
        """Why nobody would receive it, when nobody would."""
        if self.total:
            return None
        if not self.segment_size:
            return "0 recipients: no patient matches this segment"
        n = self.segment_size
        patients = f"{n} patient{'s' if n != 1 else ''}"
        if set(self.excluded) == {NEVER_ASKED}:
            return (
                f"0 recipients: none of the {patients} in this segment has campaign "
                "consent on record (never asked); record it on each patient's page or in "
                "the import's campaign consent columns"
            )
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.excluded.most_common())
        return f"0 recipients: none of the {patients} in this segment can be reached ({reasons})"


def preview(
    session: Session,
    campaign: Campaign,
    *,
    settings: Settings,
    renderer: Renderer,
    now: datetime | None = None,
    estimated: bool = True,
) -> Preview:
    """Who would receive it on which channel, who would not and why, and how it reads:
    counted in the database, per channel, reason and language; and, if `estimated`,
    how long it would take."""
    now = now or utcnow()
    text = CampaignText(campaign, renderer, settings)
    result = Preview(missing_text=campaign.missing_text)
    result.fallback = None if campaign.missing_text == SKIP else text.language_for("")
    zone = ZoneInfo(settings.default_timezone)
    found = candidates_with_channel(
        Segment.from_json(campaign.segment), wanted=campaign.channel, zone=zone, now=now
    ).subquery()
    reason = why_not(found.c, campaign.channel)
    groups = session.execute(
        select(
            found.c.channel, reason, found.c.language, func.count(), func.min(found.c.patient_id)
        )
        .group_by(found.c.channel, reason, found.c.language)
        .order_by(func.min(found.c.patient_id))
    ).all()
    written_in: dict[str, str | None] = {}
    for channel, why, language, count, _ in groups:  # in the order patients come, by id
        result.segment_size += count
        if channel is None:
            result.excluded[why or "unreachable"] += count
            continue
        written = written_in.setdefault(language, text.language_for(language))
        if written != language:
            result.without_text[language] += count
        if written is None:
            result.excluded[f"no {language_name(language)} text (skipped)"] += count
            continue
        result.recipients[channel] += count
        result.languages[language] += count
    texted = [language for language, written in written_in.items() if written is not None]
    recipients = session.execute(
        select(
            found.c.patient_id,
            found.c.channel,
            found.c.timezone,
            found.c.first_name,
            found.c.language,
        )
        .where(found.c.channel.is_not(None), found.c.language.in_(texted))
        .order_by(found.c.patient_id)
    ).all()
    result.samples = _samples(recipients, text, written_in)
    if estimated:
        sends = [Send(row.patient_id, Channel(row.channel), row.timezone) for row in recipients]
        result.estimate = estimate(session, campaign, sends, settings=settings, now=now)
    return result


def _samples(
    recipients: Sequence[Row[*tuple[Any, ...]]],
    text: CampaignText,
    written_in: dict[str, str | None],
) -> list[Sample]:
    """The first recipients (by id) of each language, rendered as they would read it."""
    samples: list[Sample] = []
    taken: Counter[str] = Counter()
    for row in recipients:
        if taken[row.language] == SAMPLES_PER_LANGUAGE:
            continue
        taken[row.language] += 1
        rendered = text.sample(
            Channel(row.channel), first_name=row.first_name, language=row.language
        )
        samples.append(
            Sample(
                row.first_name,
                row.channel,
                row.language,
                written_in[row.language] or "",
                rendered.body,
                rendered.subject,
            )
        )
    return samples
