"""messages: the frequency cap's indexes, per patient (sent since a day; plan messages to go)

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The cap counts a patient's days from the messages that reached them in the last
# week and the plan messages due in the next. Through `ix_messages_patient_id` that
# read every message the patient ever had: at 24,000 campaign recipients with ten
# messages each, 470 ms of the preview. Both indexes are partial, so a new pending row
# enters only the second, and on PostgreSQL they carry the columns the cap reads.
# (name, columns, columns carried on PostgreSQL, the rows it holds)
INDEXES = (
    (
        "ix_messages_patient_attempted_at",
        ["patient_id", "attempted_at"],
        ["channel", "purpose", "status"],
        "attempted_at IS NOT NULL",
    ),
    (
        "ix_messages_patient_pending_care",
        ["patient_id", "due_at"],
        ["id", "channel", "step"],
        "status IN ('scheduled', 'queued') AND purpose = 'care'",
    ),
)


def upgrade() -> None:
    for name, columns, carried, rows in INDEXES:
        op.create_index(
            name,
            "messages",
            columns,
            postgresql_include=carried,
            postgresql_where=sa.text(rows),
            sqlite_where=sa.text(rows),
        )


def downgrade() -> None:
    for name, *_ in reversed(INDEXES):
        op.drop_index(name, table_name="messages")
