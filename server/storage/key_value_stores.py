"""Key-value store records: statements shared by the API (async) and the worker (sync)."""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import Connection, Delete, Select, Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from server.storage.dialects import insert_for, per_dialect
from server.storage.ids import utcnow
from server.storage.models import KeyValueRecord, KeyValueStore
from server.storage.prepared import Prepared, PreparedInsert

KEY_RE = re.compile(r"^[a-zA-Z0-9!\-_.'()]{1,256}$")


def is_valid_key(key: str) -> bool:
    return KEY_RE.fullmatch(key) is not None


_RECORDS = cast(Table, KeyValueRecord.__table__)
_STORES = cast(Table, KeyValueStore.__table__)
_CHANGED = ("value", "content_type", "content_encoding", "size", "modified_at")


def _upsert(dialect: str) -> Insert:
    stmt = insert_for(dialect)(_RECORDS)
    return stmt.on_conflict_do_update(
        index_elements=["store_id", "key"], set_={c: stmt.excluded[c] for c in _CHANGED}
    )


# Built once, the values passed apart: building the statement with its values on every put cost a
# third of a put's CPU in SQLAlchemy's coercion and cache key. Prepared on SQLite, as is the store's
# touch (server/storage/prepared.py): through SQLAlchemy's execution the two were a fifth of a put's
# API CPU (bench/profile.py --kind puts).
_UPSERT = {dialect: PreparedInsert(_RECORDS, upsert) for dialect, upsert in per_dialect(_upsert).items()}

# A put's store, by id or by name, and only the user's: its modifiedAt set and its id returned, in one
# statement (the first write of the put's transaction).
TOUCH_STORE = {
    column: Prepared(
        update(_STORES)
        .where(_STORES.c[column] == bindparam("ref"), _STORES.c.user_id == bindparam("owner"))
        .values(modified_at=bindparam("now"))
        .returning(_STORES.c.id)
    )
    for column in ("id", "name")
}


# A record as a row (server/storage/rows.py): a GET's, a woken run-sync's OUTPUT.
RECORD_ROW: Select[Any] = select(*_RECORDS.columns).where(
    _RECORDS.c.store_id == bindparam("store_id"), _RECORDS.c.key == bindparam("key")
)
# The records of one key in several stores (woken run-syncs' OUTPUTs, read together).
RECORD_ROWS: Select[Any] = select(*_RECORDS.columns).where(
    _RECORDS.c.key == bindparam("key"), _RECORDS.c.store_id.in_(bindparam("store_ids", expanding=True))
)


def upsert_record(
    handle: Session | Connection,
    dialect: str,
    store_id: str,
    key: str,
    value: bytes,
    content_type: str,
    content_encoding: str | None,
) -> None:
    """Store the record in the handle's transaction (an async session's: through run_sync)."""
    row = {
        "store_id": store_id,
        "key": key,
        "value": value,
        "content_type": content_type,
        "content_encoding": content_encoding,
        "size": len(value),
        "modified_at": utcnow(),
    }
    _UPSERT[dialect].execute(handle, row)


def get_record_stmt(store_id: str, key: str) -> Select[KeyValueRecord]:
    return select(KeyValueRecord).where(KeyValueRecord.store_id == store_id, KeyValueRecord.key == key)


def delete_record_stmt(store_id: str, key: str) -> Delete:
    return delete(KeyValueRecord).where(KeyValueRecord.store_id == store_id, KeyValueRecord.key == key)


def _binary(dialect: str, column: Any) -> Any:
    """The column under a byte-order collation: PostgreSQL's default collation is locale-aware, and
    Apify lists keys in UTF-8 binary order (SQLite's BINARY is the default, but say so anyway)."""
    return column.collate("C" if dialect == "postgresql" else "BINARY")


def list_keys_stmt(
    dialect: str, store_id: str, exclusive_start_key: str | None, prefix: str | None, limit: int
) -> Select[str, int]:
    """Keys after exclusive_start_key, in binary order; asks for `limit` rows (callers ask one more
    than they show, to learn whether the list is truncated)."""
    key = _binary(dialect, KeyValueRecord.key)
    stmt = select(KeyValueRecord.key, KeyValueRecord.size).where(KeyValueRecord.store_id == store_id)
    if exclusive_start_key is not None:
        stmt = stmt.where(key > exclusive_start_key)
    if prefix:
        # substr rather than LIKE: keys may hold "_" (a LIKE wildcard), and SQLite's LIKE ignores case.
        stmt = stmt.where(func.substr(KeyValueRecord.key, 1, len(prefix)) == prefix)
    return stmt.order_by(key).limit(limit)


def records_page_stmt(
    dialect: str, store_id: str, after: str | None, prefix: str | None, limit: int
) -> Select[KeyValueRecord]:
    """Whole records after key `after`, in the keys' binary order (the records archive's pages)."""
    key = _binary(dialect, KeyValueRecord.key)
    stmt = select(KeyValueRecord).where(KeyValueRecord.store_id == store_id)
    if after is not None:
        stmt = stmt.where(key > after)
    if prefix:
        stmt = stmt.where(func.substr(KeyValueRecord.key, 1, len(prefix)) == prefix)
    return stmt.order_by(key).limit(limit)


def records_total_stmt(store_id: str, prefix: str | None) -> Select[int, int]:
    """How many records (of the prefix) and their stored bytes."""
    stmt = select(func.count(), func.coalesce(func.sum(KeyValueRecord.size), 0)).where(
        KeyValueRecord.store_id == store_id
    )
    if prefix:
        stmt = stmt.where(func.substr(KeyValueRecord.key, 1, len(prefix)) == prefix)
    return stmt


def store_bytes_stmt(store_ids: list[str]) -> Select[str, int]:
    """Bytes stored per store (the primary key starts with store_id, so this reads an index range)."""
    return (
        select(KeyValueRecord.store_id, func.coalesce(func.sum(KeyValueRecord.size), 0))
        .where(KeyValueRecord.store_id.in_(store_ids))
        .group_by(KeyValueRecord.store_id)
    )


def delete_store_stmts(store_id: str) -> tuple[Delete, Delete]:
    """Records first, then the store: explicit, so it does not hang on the FK cascade being enabled."""
    return (
        delete(KeyValueRecord).where(KeyValueRecord.store_id == store_id),
        delete(KeyValueStore).where(KeyValueStore.id == store_id),
    )
