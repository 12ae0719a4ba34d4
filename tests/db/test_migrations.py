"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from enishi.db.engine import make_engine
from enishi.db.migrate import upgrade
from enishi.models import Base


def test_migrated_schema_matches_models(database_url):
    engine = make_engine(database_url)
    upgrade(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
