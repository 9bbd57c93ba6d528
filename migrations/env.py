"""Alembic environment: the URL comes from Settings (or the caller), the schema from storage.models."""

from __future__ import annotations

from alembic import context

from server.settings import Settings
from server.storage.db import create_sync_engine
from server.storage.models import Base

config = context.config
url = config.attributes.get("url") or Settings.from_env().sql_url


def run_migrations_online() -> None:
    engine = create_sync_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
