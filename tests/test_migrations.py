from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from followup.models import Base
from followup.runtime import Runtime


def test_migrations_build_exactly_the_schema_the_models_describe(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
