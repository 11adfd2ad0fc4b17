"""delivery: unique provider ids, claim leases, look-up times, repeat guard, audited messages

Revision ID: 0006
Revises: 0005

Before this revision a provider look-up could credit one Twilio message to several
rows. Where rows share a provider id, the row that recorded it from its own send keeps
it; the others lose it and become `unknown`, for the next look-up (which now only takes
a message no row holds) or for staff.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED_SID = (
    "its provider id was also credited to another message by an earlier look-up: "
    "sent or not is unknown"
)


def upgrade() -> None:
    _release_shared_provider_ids()
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("allow_repeat", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("settle_at", sa.DateTime(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_messages_provider_id"))
        batch_op.create_index(batch_op.f("ix_messages_provider_id"), ["provider_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_messages_settle_at"), ["settle_at"], unique=False)
    # Rows left mid-way by the old code: queued and sending ones are recovered on the
    # next tick, unknown ones looked up on the next reconciliation.
    op.execute("UPDATE messages SET lease_until = updated_at WHERE status IN ('queued', 'sending')")
    op.execute("UPDATE messages SET settle_at = updated_at WHERE status = 'unknown'")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_log_message_id"), ["message_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_audit_log_message_id_messages", "messages", ["message_id"], ["id"]
        )


def _release_shared_provider_ids() -> None:
    """Keep each shared provider id on one row: the first that did not get it by look-up."""
    messages = sa.table(
        "messages",
        sa.column("id", sa.Integer),
        sa.column("provider_id", sa.String),
        sa.column("status", sa.String),
        sa.column("last_error", sa.Text),
    )
    bind = op.get_bind()
    shared = bind.execute(
        sa.select(messages.c.provider_id)
        .where(messages.c.provider_id.is_not(None))
        .group_by(messages.c.provider_id)
        .having(sa.func.count() > 1)
    ).scalars()
    for provider_id in list(shared):
        holders = bind.execute(
            sa.select(messages.c.id, messages.c.last_error)
            .where(messages.c.provider_id == provider_id)
            .order_by(messages.c.id)
        ).all()
        by_send = [row.id for row in holders if "look-up" not in (row.last_error or "")]
        keeper = by_send[0] if by_send else holders[0].id
        bind.execute(
            sa.update(messages)
            .where(messages.c.provider_id == provider_id, messages.c.id != keeper)
            .values(provider_id=None, status="unknown", last_error=SHARED_SID)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_log_message_id_messages", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_audit_log_message_id"))
        batch_op.drop_column("message_id")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_settle_at"))
        batch_op.drop_index(batch_op.f("ix_messages_provider_id"))
        batch_op.create_index(batch_op.f("ix_messages_provider_id"), ["provider_id"], unique=False)
        batch_op.drop_column("settle_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("allow_repeat")
        batch_op.drop_column("fingerprint")
