"""`followup export`: the console's CSV exports from the command line, as a named
staff member (their role decides what they may export and read, as in the console),
in the audit log like every export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy.orm import Session

from followup.exceptions import InvalidInput
from followup.exports import lists
from followup.exports.audited import audited_export
from followup.models.staff import Role
from followup.replies.inbox import InboxFilter
from followup.runtime import LazyRuntime
from followup.staff.access import Ability, may
from followup.staff.audit import AuditQuery
from followup.staff.members import get_staff

pass_runtime = click.make_pass_decorator(LazyRuntime)
Build = Callable[[Session, ZoneInfo, Role], lists.Listing]
BY = click.option("--by", "by", required=True, help="The staff member exporting.")
OUT = click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file."
)


@click.group()
def export() -> None:
    """Write a list as CSV (UTF-8 with BOM; times on the clinic's clock)."""


def _write(lazy: LazyRuntime, by: str, out: Path, ability: Ability, build: Build) -> None:
    runtime = lazy.get()
    zone = ZoneInfo(runtime.settings.clinic_timezone)
    with runtime.sessions() as session:
        member = get_staff(session, by)
        for needed in (ability, Ability.EXPORT):
            if member.disabled_at is not None or not may(member.role, needed):
                raise InvalidInput(f"{member.name} may not {needed}")
        listing = build(session, zone, Role(member.role))
    chunks = audited_export(runtime.sessions, listing, actor=member.name, address=None)
    with out.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines(chunks)
    click.echo(f"{listing.title or listing.name} written to {out}")


@export.command("patients")
@click.option("--search", default="", help="Ref, name or phone, as the Patients page.")
@BY
@OUT
@pass_runtime
def patients(lazy: LazyRuntime, search: str, by: str, out: Path) -> None:
    """Every patient (or those the search finds), with their consent standing."""
    _write(
        lazy, by, out, Ability.SEE_PATIENTS, lambda _, zone, __: lists.patients(q=search, zone=zone)
    )


@export.command("replies")
@BY
@OUT
@pass_runtime
def replies(lazy: LazyRuntime, by: str, out: Path) -> None:
    """Every reply in the inbox; words and pain as the member's role reads them."""
    _write(
        lazy,
        by,
        out,
        Ability.WORK_INBOX,
        lambda _, zone, role: lists.replies(InboxFilter(), role=role, zone=zone, shown={}),
    )


@export.command("alerts")
@click.option("--state", type=click.Choice(["open", "closed", "all"]), default="all")
@BY
@OUT
@pass_runtime
def alerts(lazy: LazyRuntime, state: str, by: str, out: Path) -> None:
    """Alerts, open, closed or both, newest first."""
    chosen = "" if state == "all" else state
    _write(
        lazy, by, out, Ability.SEE_ALERTS, lambda _, zone, __: lists.alerts(zone=zone, state=chosen)
    )


@export.command("campaign")
@click.argument("name")
@BY
@OUT
@pass_runtime
def campaign(lazy: LazyRuntime, name: str, by: str, out: Path) -> None:
    """A campaign's results per recipient (no message text)."""
    _write(
        lazy,
        by,
        out,
        Ability.RUN_CAMPAIGNS,
        lambda s, zone, _: lists.campaign(s, name=name, zone=zone),
    )


@export.command("audit")
@BY
@OUT
@pass_runtime
def audit(lazy: LazyRuntime, by: str, out: Path) -> None:
    """The whole audit log, newest first (admins)."""
    _write(
        lazy,
        by,
        out,
        Ability.READ_AUDIT,
        lambda _, zone, __: lists.audit_log(query=AuditQuery(), zone=zone, filters={}),
    )
