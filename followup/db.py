"""Database engines, sessions and schema upgrades."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CursorResult,
    Engine,
    Executable,
    Row,
    Table,
    TextClause,
    any_,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from followup.config import PROJECT_ROOT
from followup.sql_time import register_sqlite_functions

Insert = PostgresInsert | SQLiteInsert
SQLITE_BUSY_MS = 30_000
T = TypeVar("T")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and the time
    functions of `followup.sql_time`.

    Errors never carry their statement's parameters (`hide_parameters`): those are
    patients' names, numbers and words, and errors end up in logs.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_setup)
        return engine
    return create_engine(without_jit(url), pool_pre_ping=True, hide_parameters=True, **options)


def without_jit(url: str) -> URL:
    """`url` with PostgreSQL's JIT off, unless the URL's own `options` set it.

    JIT compiles a query over many rows before running it: half a second to a second
    on the outcome and campaign queries at a clinic's scale, more than the query
    itself; the console's short queries never pay it back."""
    parsed = make_url(url)
    given = parsed.query.get("options", "")
    if not isinstance(given, str) or "jit" in given:
        return parsed
    return parsed.update_query_dict({"options": f"{given} -cjit=off".strip()})


def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer. busy_timeout: a writer waits up to 30 s
    # for another's short transaction (an import batch, a dispatch claim) to end,
    # rather than failing at once with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    register_sqlite_functions(dbapi_connection)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def on_postgresql(session: Session) -> bool:
    return dialect_name(session) == "postgresql"


def per_dialect(build: Callable[[Callable[..., ColumnElement[bool]]], T]) -> dict[str, T]:
    """A statement built once for each database, given how to say "`column` is one of
    the list bound as `name`": one array parameter on PostgreSQL (short, constant text
    that psycopg and the server prepare once, whatever the list's length), an expanding
    IN on SQLite. Run the one for the session's `dialect_name`."""

    def postgresql_member(column: Any, name: str, item: Any) -> ColumnElement[bool]:
        return cast(ColumnElement[bool], column == any_(bindparam(name, type_=ARRAY(item))))

    def sqlite_member(column: Any, name: str, item: Any) -> ColumnElement[bool]:
        return cast(ColumnElement[bool], column.in_(bindparam(name, expanding=True)))

    return {"postgresql": build(postgresql_member), "sqlite": build(sqlite_member)}


def insert(session: Session, model: type | Table) -> Insert:
    """An INSERT that can `on_conflict_do_nothing` on both PostgreSQL and SQLite."""
    dialect = postgresql if on_postgresql(session) else sqlite
    return dialect.insert(model)


def insert_rows(
    session: Session,
    model: type,
    rows: Sequence[dict[str, Any]],
    *,
    unique: str | tuple[str, ...] | None = None,
    returning: tuple[str, ...] = (),
) -> list[Row[Any]]:
    """Insert `rows` (all with the same keys) in one statement, skipping those that
    clash on the `unique` column(s); returns the `returning` columns of the rows inserted.

    On PostgreSQL the rows go as one array per column (`unnest`): the statement is the
    same for every batch, so it is parsed and planned once, where a multi-row VALUES
    list changes with the batch size. SQLite gets SQLAlchemy's multi-row insert.
    """
    if not rows:
        return []
    table: Table = model.__table__  # type: ignore[attr-defined]
    columns = tuple(rows[0])
    if on_postgresql(session):
        statement = _insert_arrays(table, columns, unique, returning)
        result = session.connection().execute(
            statement, {name: [row[name] for row in rows] for name in columns}
        )
        return list(result) if returning else []
    many = sqlite.insert(table)
    if unique:
        many = many.on_conflict_do_nothing(
            index_elements=[unique] if isinstance(unique, str) else list(unique)
        )
    if not returning:
        session.connection().execute(many, list(rows))
        return []
    returned = many.returning(*(table.c[name] for name in returning))
    return list(session.connection().execute(returned, list(rows)))


@cache
def _insert_arrays(
    table: Table,
    columns: tuple[str, ...],
    unique: str | tuple[str, ...] | None,
    returning: tuple[str, ...],
) -> TextClause:
    dialect = postgresql.dialect()
    arrays = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in columns
    )
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    if unique:
        sql += (
            f" ON CONFLICT ({unique if isinstance(unique, str) else ', '.join(unique)}) DO NOTHING"
        )
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    types = [bindparam(name, type_=ARRAY(table.c[name].type)) for name in columns]
    return text(sql).bindparams(*types)


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern (with `escape="\\"`): its % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE; return how many rows it changed."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
