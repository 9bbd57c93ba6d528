"""Dataset items: one row per item, numbered in push order."""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import BigInteger, Delete, Select, Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from server.storage.ids import utcnow
from server.storage.models import Dataset, DatasetItem

_DATASETS = cast(Table, Dataset.__table__)
# Built once, the values passed apart (a statement built per push, with its values, cost more CPU in
# SQLAlchemy than the push's SQL). The row lock of the reserve serialises concurrent pushes.
_RESERVE = (
    update(_DATASETS)
    .where(_DATASETS.c.id == bindparam("dataset_id"))
    .values(
        item_count=_DATASETS.c.item_count + bindparam("count", type_=BigInteger),
        modified_at=bindparam("now", type_=_DATASETS.c.modified_at.type),
    )
    .returning(_DATASETS.c.item_count)
)
_INSERT_ITEMS = insert(cast(Table, DatasetItem.__table__))
# Rows per INSERT statement of a push.
_INSERT_BATCH = 1000


def dumped(items: list[Any]) -> list[str]:
    """The items as stored: one JSON text each."""
    return [json.dumps(item, ensure_ascii=False) for item in items]


def append_items(session: Session, dataset_id: str, texts: list[str]) -> bool:
    """Append the items (dumped) in order, after the dataset's last; False: the dataset is gone."""
    params = {"dataset_id": dataset_id, "count": len(texts), "now": utcnow()}
    end = session.execute(_RESERVE, params).scalar_one_or_none()
    if end is None:
        return False
    start = end - len(texts)
    rows = [{"dataset_id": dataset_id, "seq": start + i, "data": text} for i, text in enumerate(texts)]
    for first in range(0, len(rows), _INSERT_BATCH):
        session.execute(_INSERT_ITEMS, rows[first : first + _INSERT_BATCH])
    return True


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
