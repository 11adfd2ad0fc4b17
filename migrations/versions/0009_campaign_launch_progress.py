"""campaigns: launch progress, as launches write their messages in the background

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("launch_requested_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("launch_total", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("launch_done", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("launch_finished_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("launch_finished_at")
        batch_op.drop_column("launch_done")
        batch_op.drop_column("launch_total")
        batch_op.drop_column("launch_requested_at")
