"""staff access: the last TOTP step accepted, a member's own contacts for test sends,
a flash message per session, and the client address and patient on audit entries

Revision ID: 0011
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flash", sa.String(length=300), nullable=True))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_audit_log_patient_id_patients", "patients", ["patient_id"], ["id"]
        )
        batch_op.create_index("ix_audit_log_patient_id", ["patient_id"], unique=False)
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_index("ix_audit_log_patient_id")
        batch_op.drop_constraint("fk_audit_log_patient_id_patients", type_="foreignkey")
        batch_op.drop_column("patient_id")
        batch_op.drop_column("address")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_column("flash")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("email")
        batch_op.drop_column("phone")
        batch_op.drop_column("totp_last_step")
