"""campaigns: a text per language, the choice for a language without one, a slug

Revision ID: 0016
Revises: 0014
"""

import json
import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _slug(name: str, taken: set[str]) -> str:
    """As `followup.campaigns.slugs.slug_for` made it when this revision was written."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100].strip("-")
    if not base or base.isdigit():
        base = f"campaign-{base}".strip("-")
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("texts", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column(
                "missing_text", sa.String(length=10), server_default="fallback", nullable=False
            )
        )
    connection = op.get_bind()
    taken: set[str] = set()
    rows = connection.execute(
        sa.text("SELECT id, name, sms_text, email_subject, email_text FROM campaigns ORDER BY id")
    ).all()
    for campaign_id, name, sms, subject, email in rows:
        parts = {"sms": sms, "subject": subject, "email": email}
        # What staff wrote was one text, in English (the only language it was checked in).
        texts = {"en": parts} if any(parts.values()) else {}
        connection.execute(
            sa.text("UPDATE campaigns SET slug = :slug, texts = :texts WHERE id = :id"),
            {
                "slug": _slug(name, taken),
                "texts": json.dumps(texts, sort_keys=True),
                "id": campaign_id,
            },
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=120), nullable=False)
        batch_op.create_unique_constraint("uq_campaigns_slug", ["slug"])
        batch_op.drop_column("sms_text")
        batch_op.drop_column("email_subject")
        batch_op.drop_column("email_text")


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("email_subject", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("email_text", sa.Text(), nullable=True))
    connection = op.get_bind()
    for campaign_id, texts in connection.execute(sa.text("SELECT id, texts FROM campaigns")).all():
        english = json.loads(texts).get("en") or next(iter(json.loads(texts).values()), {})
        connection.execute(
            sa.text(
                "UPDATE campaigns SET sms_text = :sms, email_subject = :subject,"
                " email_text = :email WHERE id = :id"
            ),
            {
                "sms": english.get("sms"),
                "subject": english.get("subject"),
                "email": english.get("email"),
                "id": campaign_id,
            },
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint("uq_campaigns_slug", type_="unique")
        batch_op.drop_column("missing_text")
        batch_op.drop_column("texts")
        batch_op.drop_column("slug")
