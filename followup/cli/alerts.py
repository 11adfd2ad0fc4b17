"""Open alerts, and acknowledging one after calling the patient back."""

from __future__ import annotations

import click

from followup.db import transaction
from followup.models.base import utcnow
from followup.runtime import LazyRuntime

pass_runtime = click.make_pass_decorator(LazyRuntime)


@click.group(invoke_without_command=True)
@click.pass_context
def alerts(ctx: click.Context) -> None:
    """List open alerts (emergencies first); `alerts ack` acknowledges one."""
    if ctx.invoked_subcommand is not None:
        return
    from followup.replies.open_alerts import open_alerts

    lazy: LazyRuntime = ctx.obj
    with lazy.get().sessions() as session:
        found = open_alerts(session)
    if not found:
        click.echo("no open alerts")
    for alert in found:
        state = f"escalation step {alert.escalation_step}" if alert.notified else "NOBODY NOTIFIED"
        who = (
            f"{alert.patient_name} ({alert.patient_ref}, {alert.phone or 'no phone'})"
            if alert.patient_ref
            else f"unknown number {alert.phone}"
        )
        doubt = " [second reader only]" if alert.readers == "model" else ""
        click.echo(
            f"#{alert.id} {alert.level.upper():<9} {alert.created_at:%Y-%m-%d %H:%M} UTC  "
            f"[{state}]{doubt} {who}: {alert.reply!r}"
        )


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", "by", required=True, help="Who called the patient back.")
@click.option("--note", default="", help="What was done.")
@pass_runtime
def ack(lazy: LazyRuntime, alert_id: int, by: str, note: str) -> None:
    """Acknowledge an alert: records who and when, and stops its escalation."""
    from followup.replies.alerts import acknowledge

    with transaction(lazy.get().sessions) as session:
        acknowledge(session, alert_id=alert_id, by=by, now=utcnow(), note=note)
    click.echo(f"alert #{alert_id} acknowledged by {by}")
