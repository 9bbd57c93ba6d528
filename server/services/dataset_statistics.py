"""A dataset's field statistics (GET /v2/datasets/:id/statistics), measured from its stored items.

Apify measures the fields of a dataset's fields schema; Greenroom keeps no dataset schemas, so it
measures every top-level field that any item has. Per field, as Apify defines them: `nullCount`
(items whose value is null), `emptyCount` (items without the field), and `min`/`max` of the values'
measure: a number itself, a string's length, an array's length, an object's number of keys
(booleans have no measure; a field with no measurable value has no min or max).

Items are read in pages by their sequence number and parsed off the event loop, so a large dataset
costs time, never memory beyond one page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from sqlalchemy import select

from server.storage.db import Database
from server.storage.models import DatasetItem

# Items parsed per query (and per hop to a worker thread).
PAGE_ITEMS = 1000


@dataclass
class _Field:
    present: int = 0
    nulls: int = 0
    low: float | None = None
    high: float | None = None

    def add(self, value: Any) -> None:
        self.present += 1
        measure = _measure(value)
        if value is None:
            self.nulls += 1
        elif measure is not None:
            self.low = measure if self.low is None else min(self.low, measure)
            self.high = measure if self.high is None else max(self.high, measure)


def _measure(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str | list | dict):
        return len(value)
    return None


@dataclass
class _Tally:
    items: int = 0
    fields: dict[str, _Field] = field(default_factory=dict)

    def add_page(self, rows: list[str]) -> None:
        for row in rows:
            item = json.loads(row)
            self.items += 1
            if not isinstance(item, dict):
                continue
            for name, value in item.items():
                self.fields.setdefault(name, _Field()).add(value)

    def as_json(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, f in sorted(self.fields.items()):
            stats: dict[str, Any] = {"nullCount": f.nulls, "emptyCount": self.items - f.present}
            if f.low is not None:
                stats |= {"min": f.low, "max": f.high}
            out[name] = stats
        return out


async def dataset_statistics(db: Database, dataset_id: str) -> dict[str, Any]:
    """Apify's DatasetStatistics of the dataset's items as they are now."""
    tally = _Tally()
    after = -1
    while True:
        stmt = (
            select(DatasetItem.seq, DatasetItem.data)
            .where(DatasetItem.dataset_id == dataset_id, DatasetItem.seq > after)
            .order_by(DatasetItem.seq)
            .limit(PAGE_ITEMS)
        )
        async with db.read() as session:
            page = (await session.execute(stmt)).all()
        if not page:
            break
        after = int(page[-1][0])
        await anyio.to_thread.run_sync(tally.add_page, [str(data) for _, data in page])
        if len(page) < PAGE_ITEMS:
            break
    return {"fieldStatistics": tally.as_json()}
