"""What a campaign would do, before it does it: who receives it, in which language and
on which channel, who is left out and why, samples rendered for real recipients of
each language, and how long it would take (`followup.campaigns.estimates`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from followup.campaigns.estimates import Estimate, Send, estimate
from followup.campaigns.reach import NEVER_ASKED, choose_channel
from followup.campaigns.segments import Segment, candidates
from followup.config import Settings
from followup.content.campaign_text import SKIP, CampaignText, language_name
from followup.content.render import Renderer
from followup.models.base import utcnow
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
) -> Preview:
    """Who would receive it on which channel, who would not and why, and how it reads."""
    now = now or utcnow()
    text = CampaignText(campaign, renderer, settings)
    result = Preview(missing_text=campaign.missing_text)
    result.fallback = None if campaign.missing_text == SKIP else text.language_for("")
    zone = ZoneInfo(settings.default_timezone)
    sends: list[Send] = []
    shown: Counter[str] = Counter()
    for candidate in candidates(session, Segment.from_json(campaign.segment), zone=zone, now=now):
        result.segment_size += 1
        channel, reason = choose_channel(candidate, campaign.channel)
        if channel is None:
            result.excluded[reason or "unreachable"] += 1
            continue
        written = text.language_for(candidate.language)
        if written != candidate.language:
            result.without_text[candidate.language] += 1
        if written is None:
            result.excluded[f"no {language_name(candidate.language)} text (skipped)"] += 1
            continue
        result.recipients[channel.value] += 1
        result.languages[candidate.language] += 1
        sends.append(Send(candidate.patient_id, channel, candidate.timezone))
        if shown[candidate.language] < SAMPLES_PER_LANGUAGE:
            shown[candidate.language] += 1
            rendered = text.sample(
                channel, first_name=candidate.first_name, language=candidate.language
            )
            result.samples.append(
                Sample(
                    candidate.first_name,
                    channel.value,
                    candidate.language,
                    written,
                    rendered.body,
                    rendered.subject,
                )
            )
    result.estimate = estimate(session, campaign, sends, settings=settings, now=now)
    return result
