"""replies: which reader found an emergency and the model's probability; alerts and
their notifications for a number that matches no patient

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("readers", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("model_probability", sa.Float(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Alerts about unknown numbers (and their notifications) have no patient to keep.
    op.execute(
        "DELETE FROM alert_events WHERE alert_id IN (SELECT id FROM alerts WHERE patient_id IS NULL)"
    )
    op.execute("DELETE FROM alerts WHERE patient_id IS NULL")
    op.execute("DELETE FROM messages WHERE patient_id IS NULL")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_column("model_probability")
        batch_op.drop_column("readers")
