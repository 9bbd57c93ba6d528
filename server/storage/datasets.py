"""Dataset items: one row per item, numbered in push order."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Delete, Insert, Select, Update, delete, insert, select, update

from server.storage.ids import utcnow
from server.storage.models import Dataset, DatasetItem


def reserve_stmt(dataset_id: str, count: int) -> Update:
    """Bump item_count and return the new total; the row lock serialises concurrent pushes."""
    return (
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(item_count=Dataset.item_count + count, modified_at=utcnow())
        .returning(Dataset.item_count)
    )


def insert_items_stmt(dataset_id: str, end: int, items: list[Any]) -> tuple[Insert, list[dict[str, Any]]]:
    """The insert for items that end at sequence number `end` (the total reserve_stmt returned)."""
    start = end - len(items)
    rows = [
        {"dataset_id": dataset_id, "seq": start + i, "data": json.dumps(item, ensure_ascii=False)}
        for i, item in enumerate(items)
    ]
    return insert(DatasetItem), rows


def list_items_stmt(dataset_id: str, offset: int, limit: int | None, desc: bool) -> Select[str]:
    order = DatasetItem.seq.desc() if desc else DatasetItem.seq.asc()
    stmt = select(DatasetItem.data).where(DatasetItem.dataset_id == dataset_id).order_by(order).offset(offset)
    return stmt.limit(limit) if limit is not None else stmt


def delete_dataset_stmts(dataset_id: str) -> tuple[Delete, Delete]:
    """Items first, then the dataset: explicit, so it does not hang on the FK cascade being enabled."""
    return (
        delete(DatasetItem).where(DatasetItem.dataset_id == dataset_id),
        delete(Dataset).where(Dataset.id == dataset_id),
    )
