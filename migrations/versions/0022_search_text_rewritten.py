"""patients: every search text written anew (a name of several words is also found as one)

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# "de la Cruz" is now found by "delacruz" too, and "Mary Ann" by "maryann": the words
# are in `search_text`, which only a write of the patient would otherwise bring.


def upgrade() -> None:
    from followup.care.search import rewrite_search_texts

    rewrite_search_texts(op.get_bind())


def downgrade() -> None:
    """The older texts held fewer words; the extra ones find nothing they should not."""
