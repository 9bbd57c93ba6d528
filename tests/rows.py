"""Direct views of one user's rows: proof that a request wrote nothing (or left another user's alone)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.storage.db import SyncDatabase
from server.storage.models import (
    Actor,
    Build,
    Dataset,
    DatasetItem,
    KeyValueRecord,
    KeyValueStore,
    LogChunk,
    QueueRequest,
    RequestQueue,
    Run,
    RunCharge,
    Task,
    Webhook,
    WebhookDispatch,
)

_OWNED = (Actor, Build, Task, Run, KeyValueStore, Dataset, RequestQueue, Webhook, WebhookDispatch)
# Child tables, reached through the parent that carries user_id.
_CHILDREN = (
    (KeyValueRecord, KeyValueStore, KeyValueRecord.store_id == KeyValueStore.id),
    (DatasetItem, Dataset, DatasetItem.dataset_id == Dataset.id),
    (LogChunk, Run, LogChunk.run_id == Run.id),
    (RunCharge, Run, RunCharge.run_id == Run.id),
    (QueueRequest, RequestQueue, QueueRequest.queue_id == RequestQueue.id),
)


def snapshot(db: SyncDatabase, user_id: str) -> dict[str, list[str]]:
    """Every row the user owns, per table, as sorted reprs (equal snapshots: nothing was written)."""
    out: dict[str, list[str]] = {}
    with db.transaction() as session:
        for model in _OWNED:
            table: Any = model.__table__
            rows = session.execute(select(table).where(table.c.user_id == user_id)).all()
            out[model.__tablename__] = sorted(repr(tuple(r)) for r in rows)
        for child, parent, on in _CHILDREN:
            child_table: Any = child.__table__
            stmt = select(child_table).join(parent, on).where(parent.user_id == user_id)
            out[child.__tablename__] = sorted(repr(tuple(r)) for r in session.execute(stmt).all())
    return out


def counts(db: SyncDatabase, user_id: str) -> dict[str, int]:
    return {table: len(rows) for table, rows in snapshot(db, user_id).items()}
