"""The reads a woken waiter makes, coalesced (server/services/coalesce.py): its run (for run-sync, only
what it answers from), and for run-sync the record it answers with. All as rows, on the quick path
(Database.quick_rows), by statements built once (a batch is often one or two rows: building a
statement cost more than running it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select

from server.services.coalesce import Coalescer
from server.storage.db import Database
from server.storage.key_value_stores import RECORD_ROWS
from server.storage.rows import RecordRow, RunEnd, RunRow
from server.storage.runs import RUN_ENDS, RUN_ROWS

# Records may be large (up to the record size limit): fewer of them per query.
_RECORDS_PER_QUERY = 100


def run_reads(db: Database, statement: Select[Any] = RUN_ROWS) -> Coalescer[str, RunRow]:
    """Runs by id: whole (RUN_ROWS), or what `statement` selects of them (RUN_ENDS)."""

    def read(connection: Connection, run_ids: list[str]) -> dict[str, RunRow]:
        return {run.id: run for run in connection.execute(statement, {"ids": run_ids})}

    async def fetch(run_ids: list[str]) -> dict[str, RunRow]:
        return await db.quick_rows(lambda connection: read(connection, run_ids))

    return Coalescer(fetch)


def run_end_reads(db: Database) -> Coalescer[str, RunEnd]:
    return run_reads(db, RUN_ENDS)


def record_reads(db: Database) -> Coalescer[tuple[str, str], RecordRow]:
    """By (store id, key); the keys of one batch are almost always all OUTPUT."""

    def read(connection: Connection, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], RecordRow]:
        stores_by_key: dict[str, list[str]] = {}
        for store_id, key in wanted:
            stores_by_key.setdefault(key, []).append(store_id)
        found: dict[tuple[str, str], RecordRow] = {}
        for key, store_ids in stores_by_key.items():
            for record in connection.execute(RECORD_ROWS, {"key": key, "store_ids": store_ids}):
                found[(record.store_id, record.key)] = record
        return found

    async def fetch(wanted: list[tuple[str, str]]) -> dict[tuple[str, str], RecordRow]:
        return await db.quick_rows(lambda connection: read(connection, wanted))

    return Coalescer(fetch, chunk=_RECORDS_PER_QUERY)
