"""Putting a record into a key-value store: the write actors make most (PUT .../records/:key)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.services.resolve import key_value_store_sync
from server.storage.ids import utcnow
from server.storage.key_value_stores import upsert_record_stmt
from server.storage.models import User


def put_record(
    session: Session,
    dialect: str,
    user: User,
    store_ref: str,
    key: str,
    value: bytes,
    media_type: str,
    encoding: str | None,
) -> str:
    """Store the value as uploaded (encoding: its Content-Encoding, None for identity), in the
    caller's unit of work (Database.quick_write); the store's id."""
    store = key_value_store_sync(session, user, store_ref)
    session.execute(upsert_record_stmt(dialect, store.id, key, value, media_type, encoding))
    store.modified_at = utcnow()
    return store.id
