"""The outbox: one dispatch tick now, messages per state, and settling a message
nobody can confirm."""

from __future__ import annotations

from datetime import datetime

import click

from followup.db import transaction
from followup.exceptions import InvalidInput
from followup.models.base import utcnow
from followup.runtime import LazyRuntime

pass_runtime = click.make_pass_decorator(LazyRuntime)


@click.command()
@click.option("--at", "at", default=None, help="Pretend it is this UTC time (ISO 8601).")
@pass_runtime
def dispatch(lazy: LazyRuntime, at: str | None) -> None:
    """Run one dispatch tick now: claim due messages and send them (in-process when no
    broker is configured, else through the workers), then settle unfinished ones."""
    from followup.tasks import dispatch_due, escalate_alerts, reconcile
    from followup.worker import create_celery

    if at is not None:
        try:
            datetime.fromisoformat(at)
        except ValueError:
            raise InvalidInput(f"--at {at!r} is not an ISO 8601 time") from None
    create_celery(lazy.get().settings, lazy.get())
    settled = reconcile.apply(args=(at,)).get()
    escalated = escalate_alerts.apply(args=(at,)).get()
    claimed = dispatch_due.apply(args=(at,)).get()
    click.echo(f"claimed {claimed} due messages; escalated {escalated} alerts; settled: {settled}")


@click.command()
@click.option("--ready", is_flag=True, help="Exit 1 unless every readiness check passes.")
@pass_runtime
def status(lazy: LazyRuntime, ready: bool) -> None:
    """Readiness verdicts (as /readyz); messages per state; messages nobody can
    confirm and replies from unknown numbers."""
    from followup.delivery.report import needs_attention, status_counts, unknown_senders
    from followup.operations.health import readiness

    rt = lazy.get()
    report = readiness(settings=rt.settings, engine=rt.engine, sessions=rt.sessions, now=utcnow())
    click.echo("ready" if report.ok else "not ready")
    for verdict in report.verdicts:
        click.echo(f"  {'ok  ' if verdict.ok else 'FAIL'} {verdict.check}: {verdict.detail}")
    with rt.sessions() as session:
        counts = status_counts(session)
        unsure = needs_attention(session)
        strangers = unknown_senders(session)
    click.echo("messages: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    for_staff = [item for item in unsure if item.next_look_up is None]
    if for_staff:
        click.echo(
            f"{len(for_staff)} may or may not have reached the patient; settle each with "
            "`followup message mark-sent|resend|cancel ID --by NAME --reason WHY`:"
        )
    for item in for_staff:
        when = f"{item.attempted_at:%Y-%m-%d %H:%M} UTC" if item.attempted_at else "-"
        click.echo(
            f"  #{item.message_id} {item.patient_ref} {item.channel} {item.step or '-'} "
            f"tried {when}: {item.reason}"
        )
    looking = [item for item in unsure if item.next_look_up is not None]
    if looking:
        soonest = min(item.next_look_up for item in looking if item.next_look_up)
        click.echo(
            f"{len(looking)} more are being looked up at the provider "
            f"(next at {soonest:%Y-%m-%d %H:%M:%S} UTC)"
        )
    if strangers:
        click.echo("replies from numbers that match no patient:")
    for reply in strangers:
        click.echo(f"  {reply.received_at:%Y-%m-%d %H:%M} UTC {reply.from_address}: {reply.body!r}")
    if ready and not report.ok:
        raise SystemExit(1)


@click.group()
def message() -> None:
    """Settle a message nobody can confirm (listed by `followup status`)."""


def _settle_command(action: str, summary: str) -> None:
    @message.command(action, help=summary)
    @click.argument("message_id", type=int)
    @click.option("--by", "by", required=True, help="Who decides.")
    @click.option("--reason", required=True, help="Why, e.g. what the patient said.")
    @pass_runtime
    def settle(lazy: LazyRuntime, message_id: int, by: str, reason: str) -> None:
        from followup.delivery.settlement import settle_by_staff

        with transaction(lazy.get().sessions) as session:
            settle_by_staff(session, message_id, action, by=by, reason=reason, now=utcnow())
        click.echo(f"message #{message_id}: {action} by {by}")


_settle_command("mark-sent", "Record that the message reached the patient.")


_settle_command("resend", "Send the message again now (consent and quiet hours still apply).")


_settle_command("cancel", "Leave the message unsent.")
