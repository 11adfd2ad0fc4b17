"""The `followup` command. Bad input ends in one clear line and a non-zero exit."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from followup.caps import FrequencyCaps, planned_effect
from followup.cli_campaign import campaign
from followup.db import transaction, upgrade_to_head
from followup.exceptions import FollowupError, InvalidInput
from followup.imports import import_csv, parse_local_time
from followup.models import Message, Role, Visit, utcnow
from followup.patients import get_patient
from followup.runtime import LazyRuntime
from followup.series import pause_in_force
from followup.visits import (
    cancel_visit,
    discharge_patient,
    get_visit,
    parse_office,
    record_visit,
    reschedule_visit,
)


class _Group(click.Group):
    """Turns our errors and an uninitialised database into one line on stderr."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FollowupError as exc:
            raise click.ClickException(str(exc)) from None
        except (OperationalError, ProgrammingError) as exc:
            first_line = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            raise click.ClickException(
                f"database error: {first_line} (has `followup init-db` been run?)"
            ) from None
        except DBAPIError as exc:
            # One line, never the statement or its parameters (patients' details).
            first_line = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            raise click.ClickException(f"the database refused the change: {first_line}") from None


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (never patients' details).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Post-visit SMS and email follow-up. Settings come from the environment."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    ctx.obj = LazyRuntime()
    ctx.call_on_close(ctx.obj.close)


pass_runtime = click.make_pass_decorator(LazyRuntime)


@main.command("init-db")
@pass_runtime
def init_db(lazy: LazyRuntime) -> None:
    """Create or upgrade the database schema to the latest migration."""
    upgrade_to_head(lazy.get().settings.database_url)
    click.echo("database is up to date")


@main.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path))
@pass_runtime
def import_(lazy: LazyRuntime, csv_file: Path) -> None:
    """Import a patients or visits CSV file (told apart by its header).

    Patients: ref, first_name, last_name, phone, email, preferred_channel, language,
    timezone, sms_consent, email_consent, campaign_sms_consent, campaign_email_consent.
    Visits: ref, patient_ref, office, clinician, visited_at, tags, plan, next_appointment.
    A file with any bad row imports nothing; each bad row is reported with its line.
    """
    rt = lazy.get()
    with transaction(rt.sessions) as session:
        result = import_csv(session, csv_file, settings=rt.settings)
    click.echo(result.detail)


@main.command()
@click.argument("patient_ref")
@click.option("--ref", "visit_ref", help="The visit's id in the clinic's records.")
@click.option("--office", required=True, help="Jersey City, Hoboken or Weehawken.")
@click.option("--clinician", required=True)
@click.option(
    "--at", "at", required=True, help="Visit time, ISO 8601; local to the patient if no offset."
)
@click.option("--tags", default="", help="Condition or programme tags, comma-separated.")
@click.option("--plan", default=None, help="Follow-up plan (default: FOLLOWUP_DEFAULT_PLAN).")
@click.option(
    "--next-appointment",
    default=None,
    help="The next appointment booked, ISO 8601: rebook nudges wait for it.",
)
@pass_runtime
def visit(
    lazy: LazyRuntime,
    patient_ref: str,
    visit_ref: str | None,
    office: str,
    clinician: str,
    at: str,
    tags: str,
    plan: str | None,
    next_appointment: str | None,
) -> None:
    """Record one visit; its episode of care's series is planned or moved to it."""
    rt = lazy.get()
    with transaction(rt.sessions) as session:
        patient = get_patient(session, patient_ref)
        zone = ZoneInfo(patient.timezone)
        visited_at = parse_local_time(at, zone)
        booked = parse_local_time(next_appointment, zone) if next_appointment else None
        record = record_visit(
            session,
            settings=rt.settings,
            ref=visit_ref or f"{patient.ref}-{visited_at:%Y%m%d%H%M}",
            patient=patient,
            office=parse_office(office),
            clinician=clinician,
            visited_at=visited_at,
            tags=tags,
            plan_name=plan,
            next_appointment_at=booked,
        )
        ref = record.visit.ref
    verb = "recorded" if record.created else "already recorded"
    moved = f", {record.messages_moved} moved to it" if record.messages_moved else ""
    click.echo(f"visit {ref} {verb}: {record.messages_added} messages planned{moved}")


@main.command()
@click.argument("visit_ref")
@click.option("--at", "at", required=True, help="New visit time, ISO 8601.")
@pass_runtime
def reschedule(lazy: LazyRuntime, visit_ref: str, at: str) -> None:
    """Move a visit; its pending messages move with it."""
    rt = lazy.get()
    with transaction(rt.sessions) as session:
        found = get_visit(session, visit_ref)
        when = parse_local_time(at, ZoneInfo(found.patient.timezone))
        moved = reschedule_visit(session, settings=rt.settings, visit=found, visited_at=when)
    click.echo(f"visit {visit_ref} moved: {moved} pending messages rescheduled")


@main.command("cancel-visit")
@click.argument("visit_ref")
@click.option("--reason", required=True)
@pass_runtime
def cancel_visit_command(lazy: LazyRuntime, visit_ref: str, reason: str) -> None:
    """Cancel a visit: the series follows the episode's other visits, or, with none
    left, every message that has not gone out is cancelled."""
    rt = lazy.get()
    with transaction(rt.sessions) as session:
        found = get_visit(session, visit_ref)
        result = cancel_visit(session, settings=rt.settings, visit=found, reason=reason)
    moved = f", {result.moved} moved to the episode's other visits" if result.moved else ""
    click.echo(f"visit {visit_ref} cancelled: {result.cancelled} messages cancelled{moved}")


@main.command()
@click.argument("patient_ref")
@click.option("--reason", required=True)
@pass_runtime
def discharge(lazy: LazyRuntime, patient_ref: str, reason: str) -> None:
    """Discharge a patient: nothing more is sent to them."""
    with transaction(lazy.get().sessions) as session:
        cancelled = discharge_patient(
            session, patient=get_patient(session, patient_ref), reason=reason
        )
    click.echo(f"patient {patient_ref} discharged: {cancelled} messages cancelled")


@main.command()
@click.argument("patient_ref")
@click.option("--all", "show_all", is_flag=True, help="Include messages already sent or ended.")
@pass_runtime
def schedule(lazy: LazyRuntime, patient_ref: str, show_all: bool) -> None:
    """Show a patient's upcoming messages, in the patient's local time."""
    with lazy.get().sessions() as session:
        patient = get_patient(session, patient_ref)
        query = (
            select(Message, Visit.ref)
            .outerjoin(Visit, Message.visit_id == Visit.id)
            .where(Message.patient_id == patient.id)
            .order_by(Message.due_at)
        )
        if not show_all:
            query = query.where(Message.status.in_(("scheduled", "queued", "sending", "unknown")))
        rows = session.execute(query).all()
        now = utcnow()
        pause = pause_in_force(session, patient.id, now)
        zone = ZoneInfo(patient.timezone)
        caps = FrequencyCaps(lazy.get().settings)
        effect = planned_effect(session, caps, patient_id=patient.id, zone=zone, now=now)
    click.echo(f"{patient.first_name} {patient.last_name} ({patient.ref}), times in {zone.key}")
    if pause is not None:
        click.echo(
            f"  SERIES PAUSED until {pause.until.astimezone(zone):%a %Y-%m-%d %H:%M} by "
            f"{pause.paused_by}: {pause.reason} (followup series resume {patient.ref} ...)"
        )
    if not rows:
        click.echo("  nothing planned")
    for message, visit_ref in rows:
        due = message.due_at.astimezone(zone)
        note = f"  ({message.last_error})" if message.last_error else ""
        capped = effect.get(message.id)
        if capped is not None and capped.skipped:
            note += f"  [{capped.skipped}: will be skipped]"
        elif capped is not None and capped.due_at > max(message.due_at, now):
            note += f"  [frequency cap: goes {capped.due_at.astimezone(zone):%a %Y-%m-%d %H:%M}]"
        click.echo(
            f"  {due:%a %Y-%m-%d %H:%M}  {message.channel:<5}  {message.status:<10}  "
            f"{message.step or message.template}  [{visit_ref or '-'}]{note}"
        )


@main.command()
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


@main.command()
@pass_runtime
def status(lazy: LazyRuntime) -> None:
    """Count messages per state; list messages nobody can confirm and replies from
    unknown numbers."""
    from followup.report import needs_attention, status_counts, unknown_senders

    with lazy.get().sessions() as session:
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Processes.")
@pass_runtime
def serve(lazy: LazyRuntime, host: str, port: int, workers: int) -> None:
    """Serve the web app: Twilio webhooks and the pages behind email links."""
    import uvicorn

    lazy.get()  # settings are checked before the server starts
    uvicorn.run("followup.web.main:app", host=host, port=port, workers=workers, access_log=False)


@main.group(invoke_without_command=True)
@click.pass_context
def alerts(ctx: click.Context) -> None:
    """List open alerts (emergencies first); `alerts ack` acknowledges one."""
    if ctx.invoked_subcommand is not None:
        return
    from followup.alerts import open_alerts

    lazy: LazyRuntime = ctx.obj
    with lazy.get().sessions() as session:
        found = open_alerts(session)
    if not found:
        click.echo("no open alerts")
    for alert in found:
        state = f"escalation step {alert.escalation_step}" if alert.notified else "NOBODY NOTIFIED"
        click.echo(
            f"#{alert.id} {alert.level.upper():<9} {alert.created_at:%Y-%m-%d %H:%M} UTC  "
            f"[{state}] {alert.patient_name} ({alert.patient_ref}, "
            f"{alert.phone or 'no phone'}): {alert.reply!r}"
        )


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", "by", required=True, help="Who called the patient back.")
@click.option("--note", default="", help="What was done.")
@pass_runtime
def ack(lazy: LazyRuntime, alert_id: int, by: str, note: str) -> None:
    """Acknowledge an alert: records who and when, and stops its escalation."""
    from followup.alerts import acknowledge

    with transaction(lazy.get().sessions) as session:
        acknowledge(session, alert_id=alert_id, by=by, now=utcnow(), note=note)
    click.echo(f"alert #{alert_id} acknowledged by {by}")


@main.group()
def message() -> None:
    """Settle a message nobody can confirm (listed by `followup status`)."""


def _settle_command(action: str, summary: str) -> None:
    @message.command(action, help=summary)
    @click.argument("message_id", type=int)
    @click.option("--by", "by", required=True, help="Who decides.")
    @click.option("--reason", required=True, help="Why, e.g. what the patient said.")
    @pass_runtime
    def settle(lazy: LazyRuntime, message_id: int, by: str, reason: str) -> None:
        from followup.settlement import settle_by_staff

        with transaction(lazy.get().sessions) as session:
            settle_by_staff(session, message_id, action, by=by, reason=reason, now=utcnow())
        click.echo(f"message #{message_id}: {action} by {by}")


_settle_command("mark-sent", "Record that the message reached the patient.")
_settle_command("resend", "Send the message again now (consent and quiet hours still apply).")
_settle_command("cancel", "Leave the message unsent.")


@main.group()
def series() -> None:
    """Pause or resume a patient's plan and campaign messages (alerts pause them too)."""


@series.command("pause")
@click.argument("patient_ref")
@click.option("--by", "by", required=True, help="Who pauses the series.")
@click.option("--reason", required=True)
@click.option("--hours", type=float, default=None, help="Default: FOLLOWUP_SERIES_PAUSE_HOURS.")
@pass_runtime
def series_pause(
    lazy: LazyRuntime, patient_ref: str, by: str, reason: str, hours: float | None
) -> None:
    """Hold the patient's plan and campaign messages."""
    from followup.series import pause_series

    runtime = lazy.get()
    with transaction(runtime.sessions) as session:
        patient = get_patient(session, patient_ref)
        pause_series(
            session,
            [(patient.id, reason)],
            by=by,
            now=utcnow(),
            settings=runtime.settings,
            hours=hours,
        )
    click.echo(f"series of {patient_ref} paused by {by}")


@series.command("resume")
@click.argument("patient_ref")
@click.option("--by", "by", required=True, help="Who resumes the series.")
@click.option("--reason", required=True)
@pass_runtime
def series_resume(lazy: LazyRuntime, patient_ref: str, by: str, reason: str) -> None:
    """End the patient's pause: messages still within their expiry go out again."""
    from followup.series import resume_series

    with transaction(lazy.get().sessions) as session:
        patient = get_patient(session, patient_ref)
        resume_series(session, patient_id=patient.id, by=by, reason=reason, now=utcnow())
    click.echo(f"series of {patient_ref} resumed by {by}")


@main.command()
@pass_runtime
def check(lazy: LazyRuntime) -> None:
    """Render every plan template with sample data and check the messaging rules."""
    from followup.checks import check_templates, reading_table, route_warnings

    checked, problems = check_templates(lazy.get().settings)
    for item in checked:
        shape = f"  {item.encoding}, {item.segments} segment(s)" if item.encoding else ""
        click.echo(f"ok  {item.name}{shape}")
    click.echo("\n" + "\n".join(reading_table(checked)) + "\n")
    for warning in route_warnings(lazy.get().settings):
        click.echo(f"WARN {warning}", err=True)
    for item in checked:
        if item.over_goal:
            click.echo(f"WARN {item.name}: reading grade {item.grade:.1f} is over the goal")
    for problem in problems:
        click.echo(f"FAIL {problem}", err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} template problem(s)")
    click.echo(f"{len(checked)} renders checked, all templates fine")


@main.command()
@click.option(
    "--database",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite file to use (default: a fresh temporary file).",
)
def demo(database: Path | None) -> None:
    """Enrol sample patients, walk the clock through the plan and print every message."""
    from followup.demo import run_demo

    run_demo(database, out=click.echo)


@main.group()
def staff() -> None:
    """Staff members and their API tokens (stored hashed)."""


@staff.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--link", "as_link", is_flag=True, help="Print a one-time link to set the password instead."
)
@pass_runtime
def staff_add(lazy: LazyRuntime, name: str, role: str, as_link: bool) -> None:
    """Add a staff member who signs in to the console. staff: inbox, patients, campaigns;
    clinician: also alerts, reply text and pain history; admin: also staff and settings.
    The first password is typed here (never shown) or set through a one-time link."""
    from followup.accounts import SetPasswordLinks, set_password
    from followup.staff import add_staff

    runtime = lazy.get()
    password = None
    if not as_link:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction(runtime.sessions) as session:
        member = add_staff(session, name=name, role=role)
        if password is not None:
            set_password(member, password)
        link = SetPasswordLinks(runtime.settings).url(member)
    click.echo(f"{name} added as {role}")
    if as_link:
        click.echo(f"one-time link to set the password (72 hours): {link}")


@staff.command("token")
@click.argument("name")
@pass_runtime
def staff_token(lazy: LazyRuntime, name: str) -> None:
    """Issue an API token; it is shown once and stored only as a hash."""
    from followup.staff import get_staff, issue_token

    with transaction(lazy.get().sessions) as session:
        token_id, token = issue_token(session, get_staff(session, name))
    click.echo(f"token #{token_id} for {name} (shown once): {token}")


@staff.command("revoke")
@click.argument("token_id", type=int)
@pass_runtime
def staff_revoke(lazy: LazyRuntime, token_id: int) -> None:
    """Revoke an API token by its number."""
    from followup.staff import revoke_token

    with transaction(lazy.get().sessions) as session:
        revoke_token(session, token_id)
    click.echo(f"token #{token_id} revoked")


main.add_command(campaign)
