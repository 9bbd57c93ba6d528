"""The database, for the commands that work on it directly (dev, users, tokens)."""

from __future__ import annotations

from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine


def sync_db(settings: Settings) -> SyncDatabase:
    return SyncDatabase(create_sync_engine(settings.sql_url))
