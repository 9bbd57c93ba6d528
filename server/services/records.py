"""Putting a record into a key-value store: the write actors make most (PUT .../records/:key)."""

from __future__ import annotations

from sqlalchemy import Connection

from server.errors import NotFound
from server.services.resolve import ref_column
from server.storage.ids import utcnow
from server.storage.key_value_stores import TOUCH_STORE, upsert_record
from server.storage.models import User


def put_record(
    connection: Connection,
    dialect: str,
    user: User,
    store_ref: str,
    key: str,
    value: bytes,
    media_type: str,
    encoding: str | None,
) -> str:
    """Store the value as uploaded (encoding: its Content-Encoding, None for identity), in the
    caller's unit of work (Database.quick_core_write); the store's id. Statements built once and
    prepared (server/storage/key_value_stores.py): the ORM and a statement built per put cost three
    quarters of a put's CPU."""
    named = ref_column(user, store_ref)
    store_id = None
    if named is not None:
        params = {"ref": named[1], "owner": user.id, "now": utcnow()}
        touched = TOUCH_STORE[named[0]].first(connection, params)
        store_id = None if touched is None else touched.id
    if store_id is None:
        raise NotFound("Key-value store was not found")
    upsert_record(connection, dialect, store_id, key, value, media_type, encoding)
    return str(store_id)
