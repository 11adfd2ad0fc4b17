"""What `followup campaign` prints of a campaign: its preview, its progress bar, how
far its launch is, why its messages wait."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from followup.campaigns.lifecycle import launch_progress
from followup.campaigns.previews import Preview, Sample
from followup.campaigns.waiting import Wait
from followup.content.campaign_text import language_name
from followup.content.encoding import sms_shape
from followup.models.campaigns import Campaign
from followup.models.outbox import PENDING_STATUSES, MessageStatus

IN_FLIGHT = (*PENDING_STATUSES, MessageStatus.SENDING)


def preview_lines(shown: Preview, zone: ZoneInfo, now: datetime) -> list[str]:
    """Recipients per channel and language, what happens to a language without text, who
    is left out and why (or why nobody is reached), the samples, the estimate."""
    channels = ", ".join(f"{k} {v}" for k, v in sorted(shown.recipients.items()))
    languages = ", ".join(f"{language_name(k)} {v}" for k, v in sorted(shown.languages.items()))
    lines = [f"recipients: {shown.total} ({channels})", f"by language: {languages or 'none'}"]
    then = f"get the {language_name(shown.fallback)} text" if shown.fallback else "are skipped"
    for language, count in sorted(shown.without_text.items()):
        named = language_name(language)
        lines.append(f"no {named} text: {count} {named}-speaking patients {then}")
    lines += [f"left out, {reason}: {count}" for reason, count in sorted(shown.excluded.items())]
    if (why := shown.explanation()) is not None:
        lines.append(why)
    for sample in shown.samples:
        lines += _sample(sample)
    if shown.estimate is not None:
        lines += shown.estimate.lines(zone, now)
    return lines


def _sample(sample: Sample) -> list[str]:
    shape = sms_shape(sample.body)
    form = f"  [{shape.encoding}, {shape.segments} segment(s)]" if sample.channel == "sms" else ""
    written = (
        ""
        if sample.written_in == sample.language
        else f", the {language_name(sample.written_in)} text"
    )
    head = f"--- to {sample.name} ({language_name(sample.language)}{written}) by {sample.channel}"
    subject = [f"Subject: {sample.subject}"] if sample.subject else []
    return [head + form, *subject, sample.body]


def waiting_lines(waits: list[Wait], zone: ZoneInfo) -> list[str]:
    return [f"  waiting, {w.reason}: {w.count}{_when(w.from_, w.until, zone)}" for w in waits]


def bar(counts: dict[str, int], width: int = 30) -> str:
    total = sum(counts.values())
    done = total - sum(counts.get(s, 0) for s in IN_FLIGHT)
    filled = round(width * done / total) if total else 0
    detail = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no messages"
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {detail}"


def _when(first: datetime | None, last: datetime | None, zone: ZoneInfo) -> str:
    """When a group of waiting messages should go, on the clinic's clock."""
    if first is None or last is None:
        return ""
    first, last = first.astimezone(zone), last.astimezone(zone)
    if last - first < timedelta(minutes=1):
        return f" (should go about {first:%a %H:%M})"
    return f" (should go {first:%a %H:%M} to {last:%a %H:%M})"


def launching(chosen: Campaign) -> str:
    """How far the launch's writing is, while it is not done."""
    launch = launch_progress(chosen)
    if launch.state not in ("queued", "writing"):
        return ""
    return f"  (launch {launch.state}: {launch.done}/{launch.total if launch.total is not None else '?'})"
