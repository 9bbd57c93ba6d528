"""What one small read costs an API process: an async session against the quick path.

    .venv/bin/python bench/db_reads.py [--reads 2000] [--database-url ...]

One indexed one-row SELECT, made --reads times one at a time and 32 at once, as an async session
(SQLAlchemy's async adaptation; aiosqlite on SQLite) and on Database.quick_read (a sync session in
one of two threads): wall time and this process's CPU per read. Numbers are printed, never asserted.
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

from sqlalchemy import select

if __package__ in (None, ""):  # run as `python bench/db_reads.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, command_line, table_report
from bench.common import database, software
from server.migrate import upgrade
from server.storage.db import Database, create_async_db_engine, create_sync_engine
from server.storage.models import Run

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


async def _rows(url: str, reads: int) -> list[tuple[str, ...]]:
    db = Database(create_async_db_engine(url), create_sync_engine(url))

    async def async_session() -> object:
        async with db.read() as session:
            return (await session.execute(_ONE_RUN)).first()

    async def quick() -> object:
        return await db.quick_read(lambda session: session.execute(_ONE_RUN).first())

    rows = []
    try:
        for name, read in (("async session", async_session), ("quick_read", quick)):
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
