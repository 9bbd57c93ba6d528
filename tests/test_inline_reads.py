"""Database.quick_read and quick_rows on SQLite read on the event loop's own thread, and never hold
the loop up when SQLite makes a reader wait: a connection holding the database in exclusive locking
mode (as one would during crash recovery) sends the read to a reader thread, and the loop goes on
meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Awaitable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from server.storage.db import Database, create_async_db_engine, create_sync_engine


def _database(path: Path) -> Database:
    url = f"sqlite:///{path}"
    setup = create_sync_engine(url)
    with setup.begin() as connection:
        connection.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(text("INSERT INTO things VALUES (1, 'first')"))
    setup.dispose()
    return Database(create_async_db_engine(url), create_sync_engine(url))


def _names(db: Database, how: str, threads: list[int]) -> Awaitable[list[str]]:
    """The things' names, read by db.quick_read (a session) or db.quick_rows (a connection)."""

    def read(handle: Session | Connection) -> list[str]:
        threads.append(threading.get_ident())
        return [row[0] for row in handle.execute(text("SELECT name FROM things ORDER BY id"))]

    return db.quick_read(read) if how == "quick_read" else db.quick_rows(read)


QUICK = pytest.mark.parametrize("how", ["quick_read", "quick_rows"])


@QUICK
def test_a_quick_read_on_sqlite_stays_on_the_loops_thread(tmp_path: Path, how: str) -> None:
    async def scenario() -> None:
        db = _database(tmp_path / "inline.db")
        threads: list[int] = []
        try:
            assert await _names(db, how, threads) == ["first"]
        finally:
            await db.dispose()
        assert threads == [threading.get_ident()]

    asyncio.run(scenario())


@QUICK
def test_a_read_that_must_wait_for_a_lock_waits_in_a_thread_and_the_loop_goes_on(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "held.db"
    db = _database(path)
    # Another connection takes the database in exclusive locking mode before the API's first read:
    # every other connection must wait until it lets go.
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO things VALUES (2, 'second')")
    holder.execute("COMMIT")
    held_s = 0.5

    async def scenario() -> None:
        threads: list[int] = []
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        threading.Timer(held_s, holder.close).start()
        started = time.monotonic()
        try:
            names = await _names(db, how, threads)
        finally:
            ticker.cancel()
            await db.dispose()
        assert names == ["first", "second"]
        assert time.monotonic() - started >= held_s * 0.9  # it did wait for the holder
        # The loop was free while the read waited: no gap between its ticks near the wait's length.
        assert len(ticks) > 20, f"the loop ticked {len(ticks)} times while the read waited {held_s} s"
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(gaps) < held_s / 2, max(gaps)
        # Tried on the loop's thread first (given up after INLINE_BUSY_TIMEOUT_MS), then a reader's.
        assert threads[-1] != threading.get_ident()

    asyncio.run(scenario())
