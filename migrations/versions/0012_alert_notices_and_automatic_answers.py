"""messages: the alert a staff notice is about; replies: the automatic answer sent back

Earlier notices are matched to their alerts; earlier answers were not kept (they stay empty).

Revision ID: 0012
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_messages_alert_id", ["alert_id"])
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer", sa.Text(), nullable=True))
    # Notices queued before this revision: each belongs to the patient's latest alert
    # raised at or before it (a notice is queued when its alert is raised or escalates).
    op.execute(
        """
        UPDATE messages SET alert_id = (
            SELECT a.id FROM alerts a
            WHERE a.patient_id = messages.patient_id AND a.created_at <= messages.created_at
            ORDER BY a.created_at DESC, a.id DESC LIMIT 1)
        WHERE purpose = 'alert' AND alert_id IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_column("answer")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_alert_id")
        batch_op.drop_column("alert_id")
