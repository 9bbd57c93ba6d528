"""Idempotency keys of run starts: which run a user's key started, and since when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Insert, Select, delete, select

from server.storage.dialects import insert_for
from server.storage.models import Run, RunStartKey


def keyed_run_stmt(user_id: str, key: str, since: datetime) -> Select[Run]:
    """The run the user's key started after `since`."""
    return (
        select(Run)
        .join(RunStartKey, RunStartKey.run_id == Run.id)
        .where(RunStartKey.user_id == user_id, RunStartKey.key == key, RunStartKey.created_at > since)
    )


def expired_key_stmt(user_id: str, key: str, since: datetime) -> Delete:
    """The key's row if it is from `since` or before: the key is free again."""
    return delete(RunStartKey).where(
        RunStartKey.user_id == user_id, RunStartKey.key == key, RunStartKey.created_at <= since
    )


def insert_key_stmt(dialect: str, row: dict[str, Any]) -> Insert:
    """The key's row, unless the key is taken: RETURNING says which (rowcount is -1 on psycopg)."""
    stmt = insert_for(dialect)(RunStartKey).values(**row).on_conflict_do_nothing()
    return stmt.returning(RunStartKey.run_id)
