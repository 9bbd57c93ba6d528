"""`greenroom db upgrade`: apply the Alembic migrations to the configured database."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config

# The repository's top-level migrations/, installed as the package server.migrations.
MIGRATIONS = files("server.migrations")


def alembic_config(url: str, secrets_key: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    config.attributes["secrets_key"] = secrets_key  # data migrations that seal secrets (0007)
    return config


def upgrade(url: str, secrets_key: str = "") -> None:
    command.upgrade(alembic_config(url, secrets_key), "head")
