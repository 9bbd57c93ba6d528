"""What one small read costs an API process: an async session against the quick path.

    .venv/bin/python bench/db_reads.py [--reads 2000] [--database-url ...]

One indexed one-row SELECT, made --reads times one at a time and 32 at once, as an async session
(SQLAlchemy's async adaptation; aiosqlite on SQLite) and on Database.quick_read (a sync session; on
SQLite on the loop's thread, else in one of two threads); then what a GET of a run reads (the token's
holder and the run) on quick_read as ORM entities, as the API read it before, and on
Database.quick_rows as rows; then the token's read alone, by SQLAlchemy's execution and as the API
reads it (token_holder_sync: on SQLite, prepared, server/storage/prepared.py): wall time and this
process's CPU per read. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

if __package__ in (None, ""):  # run as `python bench/db_reads.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, command_line, table_report
from bench.common import database, software
from server.migrate import upgrade
from server.services.accounts import _BY_TOKEN, _holder, _params, token_holder_sync
from server.services.resolve import run_row
from server.storage.db import Database, SyncDatabase, create_async_db_engine, create_sync_engine
from server.storage.ids import new_id
from server.storage.models import Actor, Run
from server.users import create_user

_ONE_RUN = select(Run.id, Run.status).where(Run.id == "AAAAAAAAAAAAAAAAA")


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


async def _measure(read: Callable[[], Awaitable[object]], reads: int, at_once: int) -> tuple[float, float]:
    """(wall us, CPU us) per read."""
    await asyncio.gather(*(read() for _ in range(50)))  # warm: connections made, statements compiled
    cpu, wall = _cpu_s(), time.perf_counter()
    for _ in range(reads // at_once):
        await asyncio.gather(*(read() for _ in range(at_once)))
    return 1e6 * (time.perf_counter() - wall) / reads, 1e6 * (_cpu_s() - cpu) / reads


def _token_and_run(url: str) -> tuple[str, str]:
    """A user's token and a run of theirs (a row only: no worker takes it)."""
    db = SyncDatabase(create_sync_engine(url))
    try:
        user, token = create_user(db, "reader")
        with db.transaction() as session:
            actor = Actor(user_id=user.id, name="reads")
            session.add(actor)
            session.flush()
            run = Run(
                user_id=user.id,
                act_id=actor.id,
                build_id=new_id(),
                build_number="0.0.1",
                status="SUCCEEDED",
                options={"build": "latest", "timeoutSecs": 60, "memoryMbytes": 1024},
                stats={"runTimeSecs": 0.1},
                default_key_value_store_id=new_id(),
                default_dataset_id=new_id(),
                default_request_queue_id=new_id(),
            )
            session.add(run)
            session.flush()
            return token, run.id
    finally:
        db.engine.dispose()


async def _rows(url: str, reads: int) -> list[tuple[str, ...]]:
    db = Database(create_async_db_engine(url), create_sync_engine(url))
    token, run_id = _token_and_run(url)

    async def async_session() -> object:
        async with db.read() as session:
            return (await session.execute(_ONE_RUN)).first()

    async def quick() -> object:
        return await db.quick_read(lambda session: session.execute(_ONE_RUN).first())

    def as_entities(session: Session) -> object:
        holder = token_holder_sync(session, token)
        assert holder is not None
        mine = select(Run).where(Run.id == run_id, Run.user_id == holder.user.id)
        return session.execute(mine).scalar_one()

    def as_rows(connection: Connection) -> object:
        holder = token_holder_sync(connection, token)
        assert holder is not None
        return run_row(connection, holder.user, run_id)

    async def token_executed() -> object:
        return await db.quick_rows(lambda c: _holder(c.execute(_BY_TOKEN, _params(token)).one_or_none()))

    async def token_read() -> object:  # on SQLite, prepared (server/storage/prepared.py)
        return await db.quick_rows(lambda connection: token_holder_sync(connection, token))

    async def token_and_run_entities() -> object:
        return await db.quick_read(as_entities)

    async def token_and_run_rows() -> object:
        return await db.quick_rows(as_rows)

    rows = []
    try:
        for name, read in (
            ("async session", async_session),
            ("quick_read", quick),
            ("token and run: quick_read, entities", token_and_run_entities),
            ("token and run: quick_rows, rows", token_and_run_rows),
            ("token: quick_rows, SQLAlchemy's execute", token_executed),
            ("token: quick_rows, token_holder_sync", token_read),
        ):
            for at_once in (1, 32):
                wall, cpu = await _measure(read, reads, at_once)
                rows.append((name, str(at_once), f"{wall:.0f}", f"{cpu:.0f}"))
    finally:
        await db.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=2000, help="reads per row (2000)")
    add_database_url(parser)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="greenroom-bench-") as tmp,
        database(args.database_url, Path(tmp)) as (url, description),
    ):
        upgrade(url)
        rows = asyncio.run(_rows(url, args.reads))
    command = command_line("bench/db_reads.py", argv)
    header = [("command", command), ("database", description), ("software", software())]
    print("\n".join(table_report(header, ("path", "at once", "wall us/read", "CPU us/read"), rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
