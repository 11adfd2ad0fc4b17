"""`followup campaign ...`: create, preview, test-send, launch, pause, resume, cancel, watch."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.campaigns.consequences import Action, consequence
from followup.campaigns.launches import request_launch
from followup.campaigns.lifecycle import (
    cancel,
    create_campaign,
    pause,
    progress,
    resume,
    test_send,
)
from followup.campaigns.names import get_campaign
from followup.campaigns.previews import preview
from followup.campaigns.segments import Segment
from followup.campaigns.waiting import why_waiting
from followup.care.patients import LANGUAGES
from followup.cli.campaign_report import IN_FLIGHT, bar, launching, preview_lines, waiting_lines
from followup.content.campaign_text import FALLBACK, MISSING_CHOICES, LanguageText, language_name
from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.models.campaigns import Campaign
from followup.runtime import LazyRuntime, Runtime

pass_runtime = click.make_pass_decorator(LazyRuntime)
BY = click.option("--by", "by", required=True, help="The staff member, for the audit log.")
YES = click.option("--yes", is_flag=True, help="Do not ask first (for scripts).")
OTHER_LANGUAGES = [language for language in LANGUAGES if language != "en"]


def language_options(command: Callable[..., None]) -> Callable[..., None]:
    """--sms-text-es, --email-subject-es, --email-text-es ... for each other language."""
    for language in OTHER_LANGUAGES:
        name = language_name(language)
        for part, label in (
            ("sms-text", "SMS"),
            ("email-subject", "email subject"),
            ("email-text", "email text"),
        ):
            command = click.option(f"--{part}-{language}", help=f"The {name} {label}.")(command)
    return command


@click.group()
def campaign() -> None:
    """Messages to a segment of patients: create, preview, launch, watch.

    A campaign is named by its slug (shown when it is saved and by `list`), its id or
    its name."""


@campaign.command()
@click.argument("name")
@click.option("--channel", type=click.Choice(["sms", "email", "preferred"]), required=True)
@click.option("--template", help="A template under templates/ instead of text.")
@click.option(
    "--sms-text", help="The English SMS; Jinja2: patient.first_name, clinic.name, clinic.phone."
)
@click.option("--email-subject", help="The English email subject.")
@click.option("--email-text", help="The English email text.")
@language_options
@click.option(
    "--without-text",
    "missing_text",
    type=click.Choice(MISSING_CHOICES),
    default=FALLBACK,
    show_default=True,
    help="A patient whose language has no text: send another language's, or skip them.",
)
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
    missing_text: str,
    **options: object,
) -> None:
    """Save a campaign as a draft; its message is checked now."""
    texts = {
        language: LanguageText(
            *(
                options.pop(f"{part}_{language}")
                for part in ("sms_text", "email_subject", "email_text")
            )  # type: ignore[arg-type]
        )
        for language in OTHER_LANGUAGES
    }
    segment = options
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
            texts=texts,
            missing_text=missing_text,
            start_at=start_at,
            rate=rate,
        )
        click.echo(
            f"campaign {created.name!r} saved as a draft ({created.slug}): "
            f"{Segment.from_json(created.segment).describe()}"
        )


@campaign.command(name="preview")
@click.argument("ref")
@pass_runtime
def preview_command(lazy: LazyRuntime, ref: str) -> None:
    """Recipients per channel and language, who is left out and why, samples per
    language, and when it would be sent."""
    rt = lazy.get()
    now = utcnow()
    with rt.sessions() as session:
        shown = preview(
            session, get_campaign(session, ref), settings=rt.settings, renderer=rt.renderer, now=now
        )
    for line in preview_lines(shown, ZoneInfo(rt.settings.clinic_timezone), now):
        click.echo(line)


@campaign.command(name="test-send")
@click.argument("name")
@click.option("--to", "to", required=True, help="A staff phone number or email address.")
@click.option("--language", type=click.Choice(LANGUAGES), default="en", show_default=True)
@BY
@pass_runtime
def test_send_command(lazy: LazyRuntime, name: str, to: str, language: str, by: str) -> None:
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
            language=language,
        )
    click.echo(f"test message sent to {to} ({provider_id})")


@campaign.command(name="launch")
@click.argument("name")
@click.option("--follow", is_flag=True, help="Then watch it go out.")
@YES
@BY
@pass_runtime
def launch_command(lazy: LazyRuntime, name: str, by: str, follow: bool, yes: bool) -> None:
    """Write the campaign's messages into the outbox (a worker does, when there is a
    broker); launching twice sends once. Says to how many patients and asks first."""
    from followup.tasks import write_in_background
    from followup.worker import create_celery

    rt = lazy.get()
    _ask(rt, name, "launch", yes=yes)
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


@campaign.command(name="cancel")
@click.argument("ref")
@YES
@BY
@pass_runtime
def cancel_command(lazy: LazyRuntime, ref: str, by: str, yes: bool) -> None:
    """Cancel it; unsent messages end cancelled. Says how many and asks first."""
    rt = lazy.get()
    _ask(rt, ref, "cancel", yes=yes)
    with transaction(rt.sessions) as session:
        chosen = get_campaign(session, ref)
        unsent = cancel(session, chosen, by=by)
        click.echo(f"campaign {chosen.name!r} cancelled: {unsent} messages will not be sent")


def _ask(rt: Runtime, ref: str, action: Action, *, yes: bool) -> None:
    """Say what `action` will do to how many patients and ask, No unless answered;
    `--yes` skips the question, and with no terminal to ask at nothing is done."""
    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        raise InvalidInput(
            f"campaign {action} asks first and there is no terminal to ask at; "
            f"nothing was done (add --yes to {action} without the question)"
        )
    with rt.sessions() as session:
        chosen = get_campaign(session, ref)
        said = consequence(
            session, chosen, action, settings=rt.settings, renderer=rt.renderer, now=utcnow()
        )
    click.echo(said.headline)
    for line in said.details:
        click.echo(f"  {line}")
    if not click.confirm(f"{action.capitalize()} campaign {chosen.name!r}?", default=False):
        click.echo(f"nothing changed: campaign {chosen.name!r} is still {chosen.status}")
        raise click.exceptions.Exit(1)


def _pause(session: Session, chosen: Campaign, by: str) -> str:
    pause(session, chosen, by=by)
    return "paused"


def _resume(session: Session, chosen: Campaign, by: str) -> str:
    return f"resumed: {resume(session, chosen, by=by)} messages to go"


# One shape for the commands that stop and restart a campaign: (what it does, the
# change). They do not ask first, as launch and cancel do: each is undone by the other,
# and pausing is the brake staff reach for when something is wrong.
CHANGES: dict[str, tuple[str, Callable[[Session, Campaign, str], str]]] = {
    "pause": ("Stop sending from the next dispatch tick.", _pause),
    "resume": ("Send the rest, spread from now at the campaign's rate.", _resume),
}


def _change_command(
    verb: str, summary: str, change: Callable[[Session, Campaign, str], str]
) -> None:
    @campaign.command(name=verb, help=summary)
    @click.argument("ref")
    @BY
    @pass_runtime
    def command(lazy: LazyRuntime, ref: str, by: str) -> None:
        with transaction(lazy.get().sessions) as session:
            chosen = get_campaign(session, ref)
            said = change(session, chosen, by)
            click.echo(f"campaign {chosen.name!r} {said}")


for _verb, (_summary, _change) in CHANGES.items():
    _change_command(_verb, _summary, _change)


@campaign.command(name="status")
@click.argument("name")
@click.option("--follow", is_flag=True, help="Keep watching until nothing is left to send.")
@pass_runtime
def status_command(lazy: LazyRuntime, name: str, follow: bool) -> None:
    """Counts per state, with a progress bar."""
    if follow:
        _follow(lazy, name)
        return
    rt = lazy.get()
    with rt.sessions() as session:
        chosen = get_campaign(session, name)
        click.echo(
            f"{chosen.name} ({chosen.status}): {bar(progress(session, chosen))}{launching(chosen)}"
        )
        waits = why_waiting(session, chosen, settings=rt.settings, now=utcnow())
        for line in waiting_lines(waits, ZoneInfo(rt.settings.clinic_timezone)):
            click.echo(line)


@campaign.command(name="list")
@pass_runtime
def list_command(lazy: LazyRuntime) -> None:
    """Every campaign, newest first."""
    with lazy.get().sessions() as session:
        found = session.scalars(select(Campaign).order_by(Campaign.created_at.desc())).all()
        for item in found:
            click.echo(
                f"{item.name:<24} {item.status:<9} {item.channel:<9} by {item.created_by}: {bar(progress(session, item))}  [{item.slug}]"
            )
    if not found:
        click.echo("no campaigns")


def _follow(lazy: LazyRuntime, name: str, every: float = 2.0) -> None:
    while True:
        with lazy.get().sessions() as session:
            chosen = get_campaign(session, name)
            counts = progress(session, chosen)
            status = chosen.status
            writing = launching(chosen)
        click.echo(f"\r{bar(counts)}{writing}", nl=False)
        done = not any(counts.get(s) for s in IN_FLIGHT) and not writing
        if done or status != "running":
            click.echo()
            return
        time.sleep(every)
