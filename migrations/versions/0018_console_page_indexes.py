"""indexes the outcomes, campaign preview and health pages read by at a clinic's scale

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns): the outcomes page's visits in a period and its episodes'
# check-ins and reminders; a segment's patients seen at an office (from the index);
# the health page's failures since a day; the texts waiting ahead of a campaign,
# counted from the index alone (it leads with the outbox index's status and due time).
INDEXES = (
    ("ix_visits_visited_at", "visits", ["visited_at"]),
    ("ix_visits_office_patient", "visits", ["office", "patient_id", "cancelled_at"]),
    ("ix_messages_episode_template_status", "messages", ["episode_id", "template", "status"]),
    ("ix_messages_status_updated_at", "messages", ["status", "updated_at"]),
    (
        "ix_messages_status_due_at_channel_campaign",
        "messages",
        ["status", "due_at", "channel", "campaign_id"],
    ),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.drop_index("ix_messages_status_due_at", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_status_due_at", "messages", ["status", "due_at"], unique=False)
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
