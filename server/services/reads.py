"""The reads a woken waiter makes, coalesced (server/services/coalesce.py): its run, and for run-sync
the record it answers with. Both on the quick path (Database.quick_rows, quick_read)."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from server.services.coalesce import Coalescer
from server.storage.db import Database
from server.storage.models import KeyValueRecord
from server.storage.runs import RUN_ROWS, RunRow

# Records may be large (up to the record size limit): fewer of them per query.
_RECORDS_PER_QUERY = 100
# Built once (a batch is often one or two rows: building the statement cost more than running it).
_RECORDS = select(KeyValueRecord).where(
    KeyValueRecord.key == bindparam("key"),
    KeyValueRecord.store_id.in_(bindparam("store_ids", expanding=True)),
)


def run_reads(db: Database) -> Coalescer[str, RunRow]:
    def read(connection: Connection, run_ids: list[str]) -> dict[str, RunRow]:
        return {run.id: run for run in connection.execute(RUN_ROWS, {"ids": run_ids})}

    async def fetch(run_ids: list[str]) -> dict[str, RunRow]:
        return await db.quick_rows(lambda connection: read(connection, run_ids))

    return Coalescer(fetch)


def record_reads(db: Database) -> Coalescer[tuple[str, str], KeyValueRecord]:
    """By (store id, key); the keys of one batch are almost always all OUTPUT."""

    def read(session: Session, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], KeyValueRecord]:
        stores_by_key: dict[str, list[str]] = {}
        for store_id, key in wanted:
            stores_by_key.setdefault(key, []).append(store_id)
        found: dict[tuple[str, str], KeyValueRecord] = {}
        for key, store_ids in stores_by_key.items():
            for record in session.execute(_RECORDS, {"key": key, "store_ids": store_ids}).scalars():
                found[(record.store_id, record.key)] = record
        return found

    async def fetch(wanted: list[tuple[str, str]]) -> dict[tuple[str, str], KeyValueRecord]:
        return await db.quick_read(lambda session: read(session, wanted))

    return Coalescer(fetch, chunk=_RECORDS_PER_QUERY)
