"""`followup demo`: the whole flow on embedded defaults, with a walking clock.

Sample patients are enrolled after visits at the three offices, then the clock jumps
from one due message to the next; each tick goes through the Celery dispatch task
(in-process), the eligibility rules, the frequency cap and the console channel, as in
production. On the way Ana comes back for a second visit (the same episode of care:
her series moves to it, nothing is sent twice) and Chloe replies STOP; Lucía reads
everything in Spanish; Sam, given home exercises, answers DONE and fills the activity
form at intake and four weeks (`followup.cli.demo_programme`).
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import func, select

from followup.care.patients import (
    PatientDetails,
    get_patient,
    record_consent,
    record_consents,
    save_patient,
)
from followup.care.visits import record_visit
from followup.cli.demo_programme import enrol_sam, sam_done_and_intake, sam_four_weeks
from followup.config import Settings
from followup.db import transaction, upgrade_to_head
from followup.models.base import Channel
from followup.models.care import Office, Patient
from followup.models.outbox import Message, MessageStatus, Purpose
from followup.models.staff import Role
from followup.runtime import Runtime
from followup.staff.accounts import set_password
from followup.staff.members import add_staff
from followup.worker import create_celery

# (ref, first, last, phone, email, preferred, zone, language, consents: channel -> granted)
SAMPLE_PATIENTS = [
    (
        "P-1001",
        "Ana",
        "Rivera",
        "+12015550101",
        "ana.rivera@example.com",
        "sms",
        "America/New_York",
        "en",
        {Channel.SMS: True, Channel.EMAIL: True},
    ),
    (
        "P-1002",
        "Ben",
        "Okafor",
        "",
        "ben.okafor@example.com",
        "email",
        "America/New_York",
        "en",
        {Channel.EMAIL: True},
    ),
    (
        "P-1003",
        "Chloe",
        "Park",
        "+12015550103",
        "",
        "sms",
        "America/Los_Angeles",
        "en",
        {Channel.SMS: True},
    ),
    (
        "P-1004",
        "Dev",
        "Shah",
        "+12015550104",
        "dev.shah@example.com",
        "sms",
        "America/New_York",
        "en",
        {Channel.SMS: False, Channel.EMAIL: True},
    ),
    (
        "P-1005",
        "Lucía",
        "Morales",
        "+12015550105",
        "lucia.morales@example.com",
        "sms",
        "America/New_York",
        "es",
        {Channel.SMS: True, Channel.EMAIL: True},
    ),
]
# (patient, office, clinician, tags)
VISITS = [
    ("P-1001", Office.JERSEY_CITY, "Dr. Lee", "lower-back"),
    ("P-1002", Office.HOBOKEN, "Dr. Gomez", "lower-back"),
    ("P-1003", Office.WEEHAWKEN, "Dr. Lee", "lower-back"),
    ("P-1004", Office.HOBOKEN, "Dr. Patel", "lower-back"),
    ("P-1005", Office.WEEHAWKEN, "Dr. Gomez", "lower-back,osteoarthritis"),
]
# Visits late on a Wednesday, days before the clocks go back (1 Nov 2026).
VISIT_TIME = datetime(2026, 10, 28, 19, 30, tzinfo=UTC)
SECOND_VISIT_AFTER = timedelta(days=3)  # Ana, Saturday morning
STOP_AFTER = timedelta(days=10)
DEMO_PORT = 8000
# Sam answers the exercise reminder (day 2) and the four-week check-in (day 28).
SAM_DONE_AFTER = timedelta(days=2)
SAM_FOUR_WEEKS_AFTER = timedelta(days=28, hours=2)


def run_demo(database: Path | None, *, out: Callable[[str], object] = print) -> None:
    folder = tempfile.mkdtemp(prefix="followup-demo-") if database is None else None
    path = database or Path(str(folder)) / "demo.db"
    # The console has no carrier behind it, so no send rate either.
    settings = Settings(database_url=f"sqlite:///{path}", sms_rate=0)
    upgrade_to_head(settings.database_url)
    runtime = Runtime(settings)
    tasks = _tasks(settings, runtime)
    out(f"followup demo: SQLite at {path}, Celery in-process, console channel\n")
    _enrol(runtime, out)
    now = VISIT_TIME
    events = [
        (VISIT_TIME + SAM_DONE_AFTER, lambda at: sam_done_and_intake(runtime, at, out)),
        (VISIT_TIME + SECOND_VISIT_AFTER, lambda at: _second_visit(runtime, "P-1001", at, out)),
        (VISIT_TIME + STOP_AFTER, lambda at: _revoke_sms(runtime, "P-1003", at, out)),
        (VISIT_TIME + SAM_FOUR_WEEKS_AFTER, lambda at: sam_four_weeks(runtime, at, out)),
    ]
    while (due := _next_due(runtime)) is not None:
        now = max(now, due)
        if events and now >= events[0][0]:
            at, event = events.pop(0)
            event(at)
            continue
        tasks.dispatch_due.apply(args=(now.isoformat(),))
        _print_sent(runtime, now, out)
    _print_summary(runtime, out)
    _invite_to_console(runtime, path, out)
    runtime.close()


def _invite_to_console(runtime: Runtime, path: Path, out: Callable[[str], object]) -> None:
    """A demo admin, and how to see the same data in the staff console."""
    password = secrets.token_urlsafe(12)
    with transaction(runtime.sessions) as session:
        set_password(add_staff(session, name="demo", role=Role.ADMIN), password)
    # Absolute paths, so the command works from any folder; the address serve binds.
    command = shlex.join([serve_command(), "serve", "--port", str(DEMO_PORT)])
    out(
        "\nSee it all in the staff console (it sends, settles and escalates by itself):\n"
        f"    FOLLOWUP_DATABASE_URL={shlex.quote(f'sqlite:///{path.resolve()}')} {command}\n"
        f"then open http://127.0.0.1:{DEMO_PORT}/console/ and sign in as "
        f'"demo", password "{password}"'
    )


def serve_command() -> str:
    """The `followup` command of this installation, as an absolute path."""
    beside = Path(sys.executable).parent / "followup"
    if beside.exists():
        return str(beside)
    return shutil.which("followup") or "followup"


def _tasks(settings: Settings, runtime: Runtime):  # type: ignore[no-untyped-def]
    create_celery(settings, runtime)
    from followup import tasks

    return tasks


def _enrol(runtime: Runtime, out: Callable[[str], object]) -> None:
    with transaction(runtime.sessions) as session:
        for ref, first, last, phone, email, preferred, zone, language, consents in SAMPLE_PATIENTS:
            patient = save_patient(
                session,
                PatientDetails.parse(
                    ref=ref,
                    first_name=first,
                    last_name=last,
                    phone=phone,
                    email=email,
                    preferred_channel=preferred,
                    language=language,
                    timezone=zone,
                ),
            )
            record_consents(
                session,
                patient,
                {(channel, Purpose.CARE): granted for channel, granted in consents.items()},
                source="intake form",
                by="front desk",
                at=VISIT_TIME,
            )
        for ref, office, clinician, tags in VISITS:
            patient = get_patient(session, ref)
            record = record_visit(
                session,
                settings=runtime.settings,
                ref=f"V-{ref}",
                patient=patient,
                office=office,
                clinician=clinician,
                visited_at=VISIT_TIME,
                tags=tags,
                now=VISIT_TIME,
            )
            channels = {"sms": patient.phone, "email": patient.email}
            out(
                f"enrolled {patient.first_name} {patient.last_name} ({zone_of(patient)}, "
                f"{patient.language}), {office.label}: {record.messages_added} messages "
                f"planned; prefers {patient.preferred_channel} -> "
                f"{channels[patient.preferred_channel]}"
            )
    enrol_sam(runtime, VISIT_TIME, out)
    out("")


def _second_visit(runtime: Runtime, ref: str, at: datetime, out: Callable[[str], object]) -> None:
    with transaction(runtime.sessions) as session:
        patient = get_patient(session, ref)
        record = record_visit(
            session,
            settings=runtime.settings,
            ref=f"V-{ref}-2",
            patient=patient,
            office=Office.JERSEY_CITY,
            clinician="Dr. Lee",
            visited_at=at,
            tags="lower-back",
            now=at,
        )
    out(
        f"--- {patient.first_name} comes back for a second visit, in the same episode of care: "
        f"{record.messages_added} messages planned, {record.messages_moved} moved to it\n"
    )


def zone_of(patient: Patient) -> str:
    return patient.timezone.split("/")[-1].replace("_", " ")


def _next_due(runtime: Runtime) -> datetime | None:
    with runtime.sessions() as session:
        return session.scalar(
            select(func.min(Message.due_at)).where(Message.status == MessageStatus.SCHEDULED)
        )


def _revoke_sms(runtime: Runtime, ref: str, now: datetime, out: Callable[[str], object]) -> None:
    with transaction(runtime.sessions) as session:
        patient = get_patient(session, ref)
        record_consent(
            session,
            patient,
            channel=Channel.SMS,
            purpose=Purpose.CARE,
            granted=False,
            source="sms keyword STOP",
            by="patient",
            at=now,
        )
    out(f"--- {patient.first_name} replies STOP: SMS consent revoked, pending texts cancelled\n")


def _print_sent(runtime: Runtime, now: datetime, out: Callable[[str], object]) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Message, Patient)
            .join(Patient)
            .where(Message.updated_at == now, Message.status != MessageStatus.SCHEDULED)
            .order_by(Message.id)
        ).all()
    for message, patient in rows:
        local = now.astimezone(ZoneInfo(patient.timezone))
        head = (
            f"{local:%a %b %d %H:%M %Z}  {message.channel.upper():<5} -> {message.recipient or '-'}"
        )
        if message.status != MessageStatus.SENT:
            out(f"{head}  [{message.status}: {message.last_error}]\n")
        elif message.channel == Channel.SMS:
            out(f"{head}\n    {message.body}\n")
        else:
            body = "\n".join(f"    | {line}" for line in (message.body or "").splitlines())
            out(f"{head}\n    Subject: {message.subject}\n{body}\n")


def _print_summary(runtime: Runtime, out: Callable[[str], object]) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                Patient.first_name,
                Message.step,
                Message.channel,
                Message.status,
                Message.last_error,
            )
            .join(Patient)
            .order_by(Patient.id, Message.due_at)
        ).all()
    out("Final state of every message:")
    for name, step, channel, status, reason in rows:
        out(f"  {name:<6} {step:<17} {channel:<5} {status:<10} {reason or ''}")
    totals = Counter(status for _, _, _, status, _ in rows)
    out("Totals: " + ", ".join(f"{status} {count}" for status, count in sorted(totals.items())))


@click.command()
@click.option(
    "--database",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite file to use (default: a fresh temporary file).",
)
def demo(database: Path | None) -> None:
    """Enrol sample patients, walk the clock through the plan and print every message."""
    run_demo(database, out=click.echo)
