"""Database.quick_read on SQLite reads on the event loop's own thread, and never holds the loop up
when SQLite makes a reader wait: a connection holding the database in exclusive locking mode (as
one would during crash recovery) sends the read to a reader thread, and the loop goes on meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text
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


def _names(threads: list[int]) -> object:
    def read(session: Session) -> list[str]:
        threads.append(threading.get_ident())
        return [row[0] for row in session.execute(text("SELECT name FROM things ORDER BY id"))]

    return read


def test_a_quick_read_on_sqlite_stays_on_the_loops_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = _database(tmp_path / "inline.db")
        threads: list[int] = []
        try:
            assert await db.quick_read(_names(threads)) == ["first"]  # type: ignore[arg-type]
        finally:
            await db.dispose()
        assert threads == [threading.get_ident()]

    asyncio.run(scenario())


def test_a_read_that_must_wait_for_a_lock_waits_in_a_thread_and_the_loop_goes_on(tmp_path: Path) -> None:
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
            names = await db.quick_read(_names(threads))  # type: ignore[arg-type]
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
