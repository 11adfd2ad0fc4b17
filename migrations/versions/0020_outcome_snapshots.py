"""outcomes kept at hand: each episode's outcome as last computed, and when

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Empty until the first refresh (beat's, or "Refresh now" on the page); until then the
# outcomes page counts a period's outcomes as it is asked.


def upgrade() -> None:
    op.create_table(
        "episode_outcomes",
        sa.Column("episode_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("first_visit_at", sa.DateTime(), nullable=False),
        sa.Column("clinician", sa.String(length=100), nullable=False),
        sa.Column("office", sa.String(length=20), nullable=False),
        sa.Column("pain_change", sa.Float(), nullable=True),
        sa.Column("psfs_change", sa.Float(), nullable=True),
        sa.Column("global_change", sa.Integer(), nullable=True),
        sa.Column("check_ins", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("followed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("episode_id"),
    )
    op.create_index(
        "ix_episode_outcomes_first_visit_at", "episode_outcomes", ["first_visit_at"], unique=False
    )
    op.create_table(
        "outcome_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("episodes", sa.Integer(), nullable=False),
        sa.Column("took_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("outcome_snapshots")
    op.drop_index("ix_episode_outcomes_first_visit_at", table_name="episode_outcomes")
    op.drop_table("episode_outcomes")
