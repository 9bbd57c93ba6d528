"""Data retention: finished runs older than the limit, with their logs and unnamed storages, and
unnamed storages no run owns that nobody wrote or read within it. Named storages are kept: the user
made them, as on Apify, whose unnamed storages expire and named ones stay.

Bounded batches: each call deletes at most `limit` rows of each kind, so a sweep never holds a long
transaction, and a backlog (a first start with the policy on) drains over a few sweeps. The caller
owns the transaction (the sweeper); nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, exists, select

from server.statuses import TERMINAL
from server.storage.models import ApiToken, Dataset, KeyValueStore, RequestQueue, Run

RUNS = cast(Table, Run.__table__)
TOKENS = cast(Table, ApiToken.__table__)
STORAGES = tuple(cast(Table, model.__table__) for model in (KeyValueStore, Dataset, RequestQueue))
_FINISHED = [s.value for s in TERMINAL]


@dataclass
class Expired:
    runs: list[str] = field(default_factory=list)
    storages: list[str] = field(default_factory=list)

    def full(self, limit: int) -> bool:
        """A batch was full: there may be more to delete now, not only at the next pass."""
        return len(self.runs) >= limit or len(self.storages) >= limit


def delete_expired(connection: Connection, before: datetime, limit: int) -> Expired:
    expired = Expired()
    _old_runs(connection, before, limit, expired)
    for table in STORAGES:
        _orphan_storages(connection, table, before, limit, expired)
    return expired


def _old_runs(connection: Connection, before: datetime, limit: int, expired: Expired) -> None:
    """Runs that ended before `before`, oldest first; their log chunks and charges cascade."""
    stmt = (
        select(RUNS.c.id)
        .where(RUNS.c.status.in_(_FINISHED), RUNS.c.finished_at < before)
        .order_by(RUNS.c.finished_at)
        .limit(limit)
    )
    run_ids = list(connection.execute(stmt).scalars())
    if not run_ids:
        return
    # As when an actor is deleted (server/services/actors.py): the unnamed storages the runs made go
    # with them (their records, items and requests cascade), named ones stay.
    for table in STORAGES:
        gone = delete(table).where(table.c.act_run_id.in_(run_ids), table.c.name.is_(None))
        expired.storages += connection.execute(gone.returning(table.c.id)).scalars().all()
    # A run's own token is dropped when it ends; one left by a crash goes now.
    connection.execute(delete(TOKENS).where(TOKENS.c.run_id.in_(run_ids)))
    connection.execute(delete(RUNS).where(RUNS.c.id.in_(run_ids)))
    expired.runs += run_ids


def _orphan_storages(
    connection: Connection, table: Table, before: datetime, limit: int, expired: Expired
) -> None:
    """Unnamed storages not made by a run still kept (made through the API, or by a run deleted
    meanwhile), neither written nor read since `before`."""
    owner_kept: Any = exists().where(RUNS.c.id == table.c.act_run_id)
    stmt = (
        select(table.c.id)
        .where(
            table.c.name.is_(None),
            table.c.modified_at < before,
            table.c.accessed_at < before,
            ~owner_kept,
        )
        .limit(limit)
    )
    ids = list(connection.execute(stmt).scalars())
    if ids:
        connection.execute(delete(table).where(table.c.id.in_(ids)))
        expired.storages += ids
