"""patients: date of birth, and a folded search text (trigram-indexed on PostgreSQL)

Revision ID: 0015
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("search_text", sa.String(length=1000), nullable=False, server_default="")
        )
    _fill_search_text()
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.alter_column("search_text", server_default=None)
    op.create_index("ix_patients_date_of_birth", "patients", ["date_of_birth"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may add it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema = op.get_bind().scalar(
            sa.text(
                "SELECT extnamespace::regnamespace::text FROM pg_extension"
                " WHERE extname = 'pg_trgm'"
            )
        )
        op.execute(
            "CREATE INDEX ix_patients_search_text ON patients"
            f" USING gin (search_text {schema}.gin_trgm_ops)"
        )
    else:
        op.create_index("ix_patients_search_text", "patients", ["search_text"], unique=False)


def _fill_search_text() -> None:
    """Every existing patient's search text, as `followup.care.search` writes it."""
    from followup.care.search import rewrite_search_texts

    rewrite_search_texts(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_patients_search_text", table_name="patients")
    op.drop_index("ix_patients_date_of_birth", table_name="patients")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("search_text")
        batch_op.drop_column("date_of_birth")
