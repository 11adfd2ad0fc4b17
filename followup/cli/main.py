"""The `followup` command. Bad input ends in one clear line and a non-zero exit."""

from __future__ import annotations

import logging

import click
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from followup.cli.alerts import alerts
from followup.cli.campaign import campaign
from followup.cli.care import (
    cancel_visit_command,
    discharge,
    import_,
    reschedule,
    schedule,
    series,
    visit,
)
from followup.cli.checks import check
from followup.cli.delivery import dispatch, message, status
from followup.cli.demo import demo
from followup.cli.export import export
from followup.cli.staff import staff
from followup.cli.triage import triage
from followup.db import upgrade_to_head
from followup.exceptions import FollowupError
from followup.runtime import LazyRuntime


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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Processes.")
@pass_runtime
def serve(lazy: LazyRuntime, host: str, port: int, workers: int) -> None:
    """Serve the web app: Twilio webhooks, the pages behind email links, the console.
    With no broker in development it also does the periodic work (dispatch, reconcile,
    escalation) itself.

    Client addresses (for throttles and the audit log) are the peer's, unless the peer
    is one of FOLLOWUP_TRUSTED_PROXIES: then the one its X-Forwarded-For names."""
    import uvicorn

    from followup.operations.logs import uvicorn_log_config

    settings = lazy.get().settings  # checked before the server starts
    if settings.eager and workers > 1:
        # With no broker each process would run the periodic work (followup.web.periodic).
        raise click.UsageError("with no broker (FOLLOWUP_REDIS_URL) serve runs one worker")
    uvicorn.run(
        "followup.web.main:app",
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=uvicorn_log_config(settings),
        proxy_headers=bool(settings.proxies),
        forwarded_allow_ips=settings.proxies or None,
    )


for command in (
    alerts,
    campaign,
    cancel_visit_command,
    check,
    discharge,
    dispatch,
    demo,
    export,
    import_,
    message,
    reschedule,
    schedule,
    series,
    staff,
    status,
    triage,
    visit,
):
    main.add_command(command)
