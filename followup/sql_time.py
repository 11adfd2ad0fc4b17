"""Time arithmetic inside SQL statements, so a set-based statement can spread due times
and move them into each patient's sending window.

Both work on the naive UTC timestamps both databases store (`models.UTCDateTime`).
PostgreSQL uses its own time zone database. SQLite has none, so there the same rules
are `followup.schedule`'s, registered on each connection as SQL functions.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from followup.schedule import into_sending_window

# How SQLAlchemy stores a datetime in SQLite: comparisons there are between strings.
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class shifted(FunctionElement[datetime]):  # noqa: N801 - used like a SQL function
    """shifted(moment, microseconds): `moment` plus a whole number of microseconds
    (whole, so both databases land on the same instant)."""

    type = DateTime()
    inherit_cache = True


class sending_window(FunctionElement[datetime]):  # noqa: N801
    """sending_window(moment, zone): `followup.schedule.into_sending_window` for the
    window [start, end) of wall-clock time in the time zone named by `zone`."""

    type = DateTime()
    inherit_cache = True

    def __init__(self, moment: Any, zone: Any, *, start: time, end: time) -> None:
        super().__init__(moment, zone)
        self.start, self.end = start, end


@compiles(shifted, "postgresql")
def _shifted_postgresql(element: shifted, compiler: SQLCompiler, **kw: Any) -> str:
    moment, micros = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({moment} AS TIMESTAMP) + {micros} * INTERVAL '1 microsecond')"


@compiles(shifted, "sqlite")
def _shifted_sqlite(element: shifted, compiler: SQLCompiler, **kw: Any) -> str:
    return f"followup_shifted({compiler.process(element.clauses, **kw)})"


@compiles(sending_window, "postgresql")
def _window_postgresql(element: sending_window, compiler: SQLCompiler, **kw: Any) -> str:
    moment, zone = (compiler.process(c, **kw) for c in element.clauses)
    local = f"timezone({zone}, timezone('UTC', CAST({moment} AS TIMESTAMP)))"
    start, end = f"TIME '{element.start.isoformat()}'", f"TIME '{element.end.isoformat()}'"
    today = _first_at(zone, f"(CAST({local} AS DATE) + {start})")
    tomorrow = _first_at(zone, f"(CAST({local} AS DATE) + 1 + {start})")
    return (
        f"CASE WHEN CAST({local} AS TIME) < {start} THEN {today} "
        f"WHEN CAST({local} AS TIME) >= {end} THEN {tomorrow} "
        f"ELSE CAST({moment} AS TIMESTAMP) END"
    )


def _first_at(zone: str, wall: str) -> str:
    """UTC of the first moment the clocks in `zone` show `wall`, as Python's fold=0
    reads it. PostgreSQL takes the second of a wall time that happens twice (the
    autumn hour); an hour earlier plus an hour is the first, when it reads back as
    `wall`. A time in the spring gap moves forward by the gap in both."""
    later = f"timezone('UTC', timezone({zone}, {wall}))"
    earlier = f"(timezone('UTC', timezone({zone}, {wall} - INTERVAL '1 hour')) + INTERVAL '1 hour')"
    back = f"timezone({zone}, timezone('UTC', {earlier}))"
    return f"(CASE WHEN {earlier} < {later} AND {back} = {wall} THEN {earlier} ELSE {later} END)"


@compiles(sending_window, "sqlite")
def _window_sqlite(element: sending_window, compiler: SQLCompiler, **kw: Any) -> str:
    args = compiler.process(element.clauses, **kw)
    return f"followup_sending_window({args}, '{element.start}', '{element.end}')"


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    connection.create_function("followup_shifted", 2, _sqlite_shifted, deterministic=True)
    connection.create_function("followup_sending_window", 4, _sqlite_window, deterministic=True)


def _sqlite_shifted(moment: str | None, micros: int | None) -> str | None:
    if moment is None or micros is None:
        return None
    return (datetime.fromisoformat(moment) + timedelta(microseconds=micros)).strftime(SQLITE_FORMAT)


def _sqlite_window(moment: str | None, zone: str, start: str, end: str) -> str | None:
    if moment is None:
        return None
    due = into_sending_window(
        datetime.fromisoformat(moment).replace(tzinfo=UTC),
        zone=ZoneInfo(zone),
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
    )
    return due.replace(tzinfo=None).strftime(SQLITE_FORMAT)
