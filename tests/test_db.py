"""Engines: PostgreSQL connections run without JIT, unless their URL says otherwise."""

from __future__ import annotations

from sqlalchemy import text

from followup.db import make_engine
from tests.conftest import POSTGRES_SCHEMA


def test_postgresql_connections_run_without_jit_and_keep_the_urls_options(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)  # its options set the search path
    with engine.connect() as connection:
        assert connection.scalar(text("SHOW jit")) == "off"
        assert connection.scalar(text("SHOW search_path")) == POSTGRES_SCHEMA
    engine.dispose()
    chosen = make_engine(postgres_url.replace("options=", "options=-cjit%3Don+"))
    with chosen.connect() as connection:
        assert connection.scalar(text("SHOW jit")) == "on"
        assert connection.scalar(text("SHOW search_path")) == POSTGRES_SCHEMA
    chosen.dispose()
