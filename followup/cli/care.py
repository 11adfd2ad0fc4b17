"""Patients and visits: import, record, reschedule, cancel, discharge, a patient's
schedule, and pausing or resuming a series."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from followup.care.imports import Progress, import_csv
from followup.care.patients import get_patient
from followup.care.programs import parse_program, program_code
from followup.care.series import pause_in_force
from followup.care.typed_times import parse_local_time
from followup.care.visits import (
    cancel_visit,
    discharge_patient,
    get_visit,
    parse_office,
    record_visit,
    reschedule_visit,
)
from followup.db import transaction
from followup.delivery.caps import FrequencyCaps, planned_effect
from followup.models.base import utcnow
from followup.models.care import Visit
from followup.models.outbox import Message
from followup.runtime import LazyRuntime

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

pass_runtime = click.make_pass_decorator(LazyRuntime)


@contextmanager
def import_progress() -> Iterator[Progress]:
    """A progress bar on stderr while an import writes its batches; nothing when
    stderr is not a terminal (a cron job's log gets the report alone)."""
    with ExitStack() as stack:
        bars: list[ProgressBar[int]] = []

        def advance(done: int, total: int) -> None:
            if not sys.stderr.isatty():
                return
            if not bars:
                bar = click.progressbar(length=total, label="importing", file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        yield advance


@click.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path))
@click.option("--at", "at", default=None, help="Pretend it is this time (ISO 8601 with offset).")
@pass_runtime
def import_(lazy: LazyRuntime, csv_file: Path, at: str | None) -> None:
    """Import a patients or visits CSV file (told apart by its header).

    Patients: ref, first_name, last_name, phone, email, preferred_channel, language,
    timezone, sms_consent, email_consent, campaign_sms_consent, campaign_email_consent,
    date_of_birth (1962-03-14 or 03/14/1962; empty keeps the one recorded).
    Visits: ref, patient_ref, office, clinician, visited_at, tags, plan, next_appointment,
    exercises (e.g. "bridge:2x10,walk:15min"; empty keeps the patient's programme).
    Column names are read in any case; a column not listed here is refused. A file
    with any bad row imports nothing; each bad row is reported with its line. A visit
    more than a year after the import's time is a bad row (a mistyped year).
    Written in short batches (a progress bar on a terminal); the report counts the
    messages planned, the steps already past (recorded as skipped), those to a channel
    without consent, the visits dated after the import's time, and bad rows.
    """
    now = parse_local_time(at, ZoneInfo("UTC")) if at else None
    rt = lazy.get()
    with import_progress() as progress:
        result = import_csv(rt.sessions, csv_file, settings=rt.settings, progress=progress, now=now)
    click.echo(result.detail)


@click.command()
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
@click.option(
    "--exercises",
    default=None,
    help="The home programme assigned, e.g. bridge:2x10,walk:15min (see plans/exercises/).",
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
    exercises: str | None,
) -> None:
    """Record one visit; its episode of care's series is planned or moved to it."""
    rt = lazy.get()
    program = parse_program(exercises, rt.settings.exercises_dir) if exercises else None
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
            exercises=program,
        )
        ref = record.visit.ref
    verb = "recorded" if record.created else "already recorded"
    moved = f", {record.messages_moved} moved to it" if record.messages_moved else ""
    click.echo(f"visit {ref} {verb}: {record.messages_added} messages planned{moved}")
    if program:
        click.echo(f"exercises assigned: {program_code(program)}")


@click.command()
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


@click.command("cancel-visit")
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


@click.command()
@click.argument("patient_ref")
@click.option("--reason", required=True)
@pass_runtime
def discharge(lazy: LazyRuntime, patient_ref: str, reason: str) -> None:
    """Discharge a patient: nothing more is sent to them but, after a course of home
    exercises, the discharge outcome form."""
    rt = lazy.get()
    with transaction(rt.sessions) as session:
        cancelled = discharge_patient(
            session, patient=get_patient(session, patient_ref), reason=reason, settings=rt.settings
        )
    click.echo(f"patient {patient_ref} discharged: {cancelled} messages cancelled")


@click.command()
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


@click.group()
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
    from followup.care.series import pause_series

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
    from followup.care.series import resume_series

    with transaction(lazy.get().sessions) as session:
        patient = get_patient(session, patient_ref)
        resume_series(session, patient_id=patient.id, by=by, reason=reason, now=utcnow())
    click.echo(f"series of {patient_ref} resumed by {by}")
