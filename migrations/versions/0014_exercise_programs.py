"""exercise programmes, adherence, outcome measures, next-appointment answers

Revision ID: 0014
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exercise_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("exercise", sa.String(length=40), nullable=False),
        sa.Column("dose", sa.String(length=20), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("visit_id", "exercise", name="uq_assignment_visit_exercise"),
    )
    for column in ("visit_id", "episode_id", "patient_id"):
        op.create_index(
            f"ix_exercise_assignments_{column}", "exercise_assignments", [column], unique=False
        )
    op.create_table(
        "exercise_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "day", name="uq_exercise_report_day"),
    )
    for column in ("patient_id", "episode_id"):
        op.create_index(f"ix_exercise_reports_{column}", "exercise_reports", [column], unique=False)
    op.create_table(
        "measure_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("timepoint", sa.String(length=12), nullable=False),
        sa.Column("activities", sa.Text(), nullable=False),
        sa.Column("scores", sa.String(length=20), nullable=False),
        sa.Column("psfs_mean", sa.Float(), nullable=False),
        sa.Column("global_change", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("episode_id", "timepoint", name="uq_measure_episode_timepoint"),
    )
    for column in ("patient_id", "episode_id"):
        op.create_index(
            f"ix_measure_responses_{column}", "measure_responses", [column], unique=False
        )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_appointment_confirmed_at", sa.DateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("next_appointment_reschedule_at", sa.DateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("next_appointment_reschedule_at")
        batch_op.drop_column("next_appointment_confirmed_at")
    for table, columns in (
        ("measure_responses", ("patient_id", "episode_id")),
        ("exercise_reports", ("patient_id", "episode_id")),
        ("exercise_assignments", ("visit_id", "episode_id", "patient_id")),
    ):
        for column in columns:
            op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.drop_table(table)
