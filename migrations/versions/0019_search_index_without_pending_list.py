"""patients: the search text's trigram index takes each change at once (no pending list)

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A GIN index's pending list (up to 4 MB of unsorted entries until a vacuum merges
# them) is read whole by every search: some 420 pages, 10-50 ms a query at 100,000
# patients. Patients are written a few at a time (imports in batches), so each write
# paying its own index update costs less than every search reading the list. SQLite's
# plain index has no such list.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_patients_search_text SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_patients_search_text'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_patients_search_text RESET (fastupdate)")
