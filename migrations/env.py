"""Alembic environment: runs migrations against the URL `followup.db` configures."""

from alembic import context

from followup.db import make_engine
from followup.models import Base

engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
