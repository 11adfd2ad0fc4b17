"""indexes the console and the visits import read by at a clinic's scale

Revision ID: 0017
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): a visit's messages (appointment reminders, the patient page), a
# message's replies and a visit's replies (outcomes, the conversation), and the
# inbox's newest replies first; the health page's messages due today and this week.
INDEXES = (
    ("messages", "visit_id"),
    ("messages", "due_at"),
    ("replies", "message_id"),
    ("replies", "visit_id"),
    ("replies", "received_at"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
