"""`followup campaign ...`: create, preview, test-send, launch, pause, resume, cancel, watch."""

from __future__ import annotations

import time
from datetime import datetime

import click
from sqlalchemy import select

from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import (
    cancel,
    create_campaign,
    get_campaign,
    launch_progress,
    pause,
    preview,
    progress,
    resume,
    test_send,
)
from followup.campaigns.segments import Segment
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.campaigns import Campaign
from followup.models.outbox import PENDING_STATUSES, MessageStatus
from followup.runtime import LazyRuntime

pass_runtime = click.make_pass_decorator(LazyRuntime)
BY = click.option("--by", "by", required=True, help="The staff member, for the audit log.")
IN_FLIGHT = (*PENDING_STATUSES, MessageStatus.SENDING)


@click.group()
def campaign() -> None:
    """Messages to a segment of patients: create, preview, launch, watch."""


@campaign.command()
@click.argument("name")
@click.option("--channel", type=click.Choice(["sms", "email", "preferred"]), required=True)
@click.option("--template", help="A template under templates/ instead of text.")
@click.option("--sms-text", help="Jinja2 text; patient.first_name, clinic.name, clinic.phone.")
@click.option("--email-subject")
@click.option("--email-text")
@click.option("--office", "offices", multiple=True, help="Jersey City, Hoboken, Weehawken.")
@click.option("--visited-from", help="YYYY-MM-DD")
@click.option("--visited-to", help="YYYY-MM-DD")
@click.option("--not-seen-days", type=int, help="Last visit older than this many days.")
@click.option("--tag", "tags", multiple=True, help="Condition or programme tag (any of).")
@click.option("--language", "languages", multiple=True)
@click.option("--min-pain", type=int, help="Latest pain score at or above.")
@click.option("--replied-since", help="YYYY-MM-DD")
@click.option("--not-replied-since", help="YYYY-MM-DD")
@click.option("--start", "start", help="ISO 8601 time (default: now).")
@click.option("--rate", type=float, default=1.0, show_default=True, help="Messages per second.")
@BY
@pass_runtime
def create(
    lazy: LazyRuntime,
    name: str,
    channel: str,
    start: str | None,
    rate: float,
    by: str,
    template: str | None,
    sms_text: str | None,
    email_subject: str | None,
    email_text: str | None,
    **segment: object,
) -> None:
    """Save a campaign as a draft; its message is checked now."""
    rt = lazy.get()
    start_at = None
    if start:
        try:
            start_at = datetime.fromisoformat(start)
        except ValueError:
            raise InvalidInput(f"--start {start!r} is not an ISO 8601 time") from None
        if start_at.tzinfo is None:
            raise InvalidInput("--start needs a time zone offset, e.g. 2026-12-01T10:00-05:00")
    with transaction(rt.sessions) as session:
        created = create_campaign(
            session,
            settings=rt.settings,
            renderer=rt.renderer,
            name=name,
            channel=channel,
            segment=Segment.parse(**segment),
            by=by,
            template=template,
            sms_text=sms_text,
            email_subject=email_subject,
            email_text=email_text,
            start_at=start_at,
            rate=rate,
        )
        click.echo(
            f"campaign {created.name!r} saved as a draft: {Segment.from_json(created.segment).describe()}"
        )


@campaign.command(name="preview")
@click.argument("name")
@pass_runtime
def preview_command(lazy: LazyRuntime, name: str) -> None:
    """Recipients per channel, who is left out and why, sample messages, duration."""
    from followup.content.encoding import sms_shape

    rt = lazy.get()
    with rt.sessions() as session:
        shown = preview(
            session, get_campaign(session, name), settings=rt.settings, renderer=rt.renderer
        )
    total = sum(shown.recipients.values())
    click.echo(
        f"recipients: {total} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(shown.recipients.items()))
        + ")"
    )
    for reason, count in sorted(shown.excluded.items()):
        click.echo(f"left out, {reason}: {count}")
    for first_name, channel, text in shown.samples:
        shape = (
            f"  [{sms_shape(text).encoding}, {sms_shape(text).segments} segment(s)]"
            if channel == "sms"
            else ""
        )
        click.echo(f"--- to {first_name} by {channel}{shape}\n{text}")
    click.echo(f"takes about {shown.duration} at its rate")


@campaign.command(name="test-send")
@click.argument("name")
@click.option("--to", "to", required=True, help="A staff phone number or email address.")
@BY
@pass_runtime
def test_send_command(lazy: LazyRuntime, name: str, to: str, by: str) -> None:
    """Send the message to a staff member only."""
    rt = lazy.get()
    with transaction(rt.sessions) as session:
        provider_id = test_send(
            session,
            get_campaign(session, name),
            settings=rt.settings,
            renderer=rt.renderer,
            channels=rt.channels,
            to=to,
            by=by,
        )
    click.echo(f"test message sent to {to} ({provider_id})")


@campaign.command(name="launch")
@click.argument("name")
@click.option("--follow", is_flag=True, help="Then watch it go out.")
@BY
@pass_runtime
def launch_command(lazy: LazyRuntime, name: str, by: str, follow: bool) -> None:
    """Write the campaign's messages into the outbox (a worker does, when there is a
    broker); launching twice sends once."""
    from followup.tasks import write_in_background
    from followup.worker import create_celery

    rt = lazy.get()
    with transaction(rt.sessions) as session:
        chosen = get_campaign(session, name)
        request_launch(session, chosen, by=by)
    create_celery(rt.settings, rt)
    written = write_in_background(rt, chosen.id, by)
    if written is None:
        click.echo(f"campaign {name!r} launching: a worker is writing its messages")
    else:
        click.echo(f"campaign {name!r} launched: {written} new messages")
    if follow:
        _follow(lazy, name)


@campaign.command(name="pause")
@click.argument("name")
@BY
@pass_runtime
def pause_command(lazy: LazyRuntime, name: str, by: str) -> None:
    """Stop sending from the next dispatch tick."""
    with transaction(lazy.get().sessions) as session:
        pause(session, get_campaign(session, name), by=by)
    click.echo(f"campaign {name!r} paused")


@campaign.command(name="resume")
@click.argument("name")
@BY
@pass_runtime
def resume_command(lazy: LazyRuntime, name: str, by: str) -> None:
    """Send the rest, spread from now at the campaign's rate."""
    with transaction(lazy.get().sessions) as session:
        left = resume(session, get_campaign(session, name), by=by)
    click.echo(f"campaign {name!r} resumed: {left} messages to go")


@campaign.command(name="cancel")
@click.argument("name")
@BY
@pass_runtime
def cancel_command(lazy: LazyRuntime, name: str, by: str) -> None:
    """Cancel it; unsent messages end cancelled."""
    with transaction(lazy.get().sessions) as session:
        cancelled = cancel(session, get_campaign(session, name), by=by)
    click.echo(f"campaign {name!r} cancelled: {cancelled} messages will not be sent")


@campaign.command(name="status")
@click.argument("name")
@click.option("--follow", is_flag=True, help="Keep watching until nothing is left to send.")
@pass_runtime
def status_command(lazy: LazyRuntime, name: str, follow: bool) -> None:
    """Counts per state, with a progress bar."""
    if follow:
        _follow(lazy, name)
        return
    with lazy.get().sessions() as session:
        chosen = get_campaign(session, name)
        click.echo(
            f"{chosen.name} ({chosen.status}): {_bar(progress(session, chosen))}{_launching(chosen)}"
        )


@campaign.command(name="list")
@pass_runtime
def list_command(lazy: LazyRuntime) -> None:
    """Every campaign, newest first."""
    with lazy.get().sessions() as session:
        found = session.scalars(select(Campaign).order_by(Campaign.created_at.desc())).all()
        for item in found:
            click.echo(
                f"{item.name:<24} {item.status:<9} {item.channel:<9} by {item.created_by}: {_bar(progress(session, item))}"
            )
    if not found:
        click.echo("no campaigns")


def _bar(counts: dict[str, int], width: int = 30) -> str:
    total = sum(counts.values())
    done = total - sum(counts.get(s, 0) for s in IN_FLIGHT)
    filled = round(width * done / total) if total else 0
    detail = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no messages"
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {detail}"


def _launching(chosen: Campaign) -> str:
    """How far the launch's writing is, while it is not done."""
    launch = launch_progress(chosen)
    if launch.state not in ("queued", "writing"):
        return ""
    return f"  (launch {launch.state}: {launch.done}/{launch.total if launch.total is not None else '?'})"


def _follow(lazy: LazyRuntime, name: str, every: float = 2.0) -> None:
    while True:
        with lazy.get().sessions() as session:
            chosen = get_campaign(session, name)
            counts = progress(session, chosen)
            status = chosen.status
            launching = _launching(chosen)
        click.echo(f"\r{_bar(counts)}{launching}", nl=False)
        done = not any(counts.get(s) for s in IN_FLIGHT) and not launching
        if done or status != "running":
            click.echo()
            return
        time.sleep(every)
