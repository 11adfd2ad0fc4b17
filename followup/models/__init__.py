"""SQLAlchemy models, one module per part of the schema; `base` holds what they share.

The schema itself is created and evolved by the Alembic migrations in `migrations/`;
these classes must match them (a test compares the two). Importing any model imports
them all, so `Base.metadata` always holds the whole schema.

May import: nothing of followup but `followup.models` itself.
"""

from followup.models import (  # noqa: F401
    campaigns,
    care,
    operations,
    outbox,
    outcomes,
    programs,
    replies,
    staff,
)
