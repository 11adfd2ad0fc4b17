"""staff console: passwords, second factors, sessions, role policies, inbox state, answers

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
    op.create_table(
        "role_policies",
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("totp_required", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("role"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_to", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("handled_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("handled_by", sa.String(length=100), nullable=True))
        batch_op.create_foreign_key(
            "fk_replies_assigned_to_staff", "staff", ["assigned_to"], ["id"]
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ignore_quiet_hours", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("ignore_quiet_hours")
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_constraint("fk_replies_assigned_to_staff", type_="foreignkey")
        batch_op.drop_column("handled_by")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("assigned_to")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))
    op.drop_table("staff_sessions")
    op.drop_table("role_policies")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("password_hash")
