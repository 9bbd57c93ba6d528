"""Key-value store records: statements shared by the API (async) and the worker (sync)."""

from __future__ import annotations

import re

from sqlalchemy import Delete, Select, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from server.storage.ids import utcnow
from server.storage.models import KeyValueRecord

KEY_RE = re.compile(r"^[a-zA-Z0-9!\-_.'()]{1,256}$")


def is_valid_key(key: str) -> bool:
    return KEY_RE.fullmatch(key) is not None


def upsert_record_stmt(
    dialect: str, store_id: str, key: str, value: bytes, content_type: str, content_encoding: str | None
) -> Insert:
    values = {
        "store_id": store_id,
        "key": key,
        "value": value,
        "content_type": content_type,
        "content_encoding": content_encoding,
        "size": len(value),
        "modified_at": utcnow(),
    }
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(KeyValueRecord).values(**values)
    changed = {k: v for k, v in values.items() if k not in ("store_id", "key")}
    return stmt.on_conflict_do_update(index_elements=["store_id", "key"], set_=changed)


def get_record_stmt(store_id: str, key: str) -> Select[KeyValueRecord]:
    return select(KeyValueRecord).where(KeyValueRecord.store_id == store_id, KeyValueRecord.key == key)


def delete_record_stmt(store_id: str, key: str) -> Delete:
    return delete(KeyValueRecord).where(KeyValueRecord.store_id == store_id, KeyValueRecord.key == key)
