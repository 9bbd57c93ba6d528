"""The migrations build exactly the schema the models describe (what `alembic check` verifies)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.storage.db import SyncDatabase
from server.storage.models import Base


def test_models_and_migrations_agree(db: SyncDatabase) -> None:
    """The session's database was built by `alembic upgrade head`; nothing may differ from the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
