"""Staff members and their API tokens."""

from __future__ import annotations

import click

from followup.db import transaction
from followup.models.base import LARGEST_ID
from followup.models.staff import Role
from followup.runtime import LazyRuntime

pass_runtime = click.make_pass_decorator(LazyRuntime)


@click.group()
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
    from followup.staff.accounts import SetPasswordLinks, set_password
    from followup.staff.members import add_staff

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
    from followup.staff.members import get_staff, issue_token

    with transaction(lazy.get().sessions) as session:
        token_id, token = issue_token(session, get_staff(session, name))
    click.echo(f"token #{token_id} for {name} (shown once): {token}")


@staff.command("revoke")
@click.argument("token_id", type=click.IntRange(1, LARGEST_ID))
@pass_runtime
def staff_revoke(lazy: LazyRuntime, token_id: int) -> None:
    """Revoke an API token by its number."""
    from followup.staff.members import revoke_token

    with transaction(lazy.get().sessions) as session:
        revoke_token(session, token_id)
    click.echo(f"token #{token_id} revoked")
