"""Database.quick_read, quick_rows, quick_write and quick_core_write on SQLite work on the event
loop's own thread, and never hold the loop up when SQLite makes them wait: a connection holding the
database in exclusive locking mode (as one would during crash recovery) sends a read to a reader
thread, and one holding the write lock (a worker's transaction) sends a write to a writer thread,
whose attempt on the loop was rolled back; the loop goes on meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
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


T = TypeVar("T")
QUICK = pytest.mark.parametrize("how", ["quick_read", "quick_rows"])


async def _waited_for(db: Database, call: Awaitable[T], release: Callable[[], None], held_s: float) -> T:
    """call's outcome, awaited while another connection holds the database until release() after
    held_s: it waited for the holder, and the loop kept ticking meanwhile (db disposed after)."""
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(tick())
    threading.Timer(held_s, release).start()
    started = time.monotonic()
    try:
        outcome = await call
    finally:
        ticker.cancel()
        await db.dispose()
    assert time.monotonic() - started >= held_s * 0.9  # it did wait for the holder
    # The loop was free meanwhile: no gap between its ticks near the wait's length.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 20 and max(gaps) < held_s / 2, (len(ticks), max(gaps))
    return outcome


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
        names = await _waited_for(db, _names(db, how, threads), holder.close, held_s)
        assert names == ["first", "second"]
        # Tried on the loop's thread first (given up after INLINE_BUSY_TIMEOUT_MS), then a reader's.
        assert threads[-1] != threading.get_ident()

    asyncio.run(scenario())


def _add(db: Database, how: str, threads: list[int], name: str, *, inline: bool = True) -> Awaitable[int]:
    """A unit of work that reads, then writes (the write lock is first asked for at its INSERT), by
    db.quick_write (a session) or db.quick_core_write (a connection)."""

    def work(handle: Session | Connection) -> int:
        threads.append(threading.get_ident())
        count = handle.execute(text("SELECT count(*) FROM things")).scalar_one()
        handle.execute(text("INSERT INTO things (name) VALUES (:name)"), {"name": name})
        return int(count)

    if how == "quick_write":
        return db.quick_write(work, inline=inline)
    return db.quick_core_write(work, inline=inline)


WRITES = pytest.mark.parametrize("how", ["quick_write", "quick_core_write"])


def _names_in(path: Path) -> list[str]:
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT name FROM things ORDER BY id")]


@WRITES
def test_a_quick_write_on_sqlite_stays_on_the_loops_thread_and_commits(tmp_path: Path, how: str) -> None:
    path = tmp_path / "write.db"

    async def scenario() -> None:
        db = _database(path)
        threads: list[int] = []
        try:
            assert await _add(db, how, threads, "second") == 1
        finally:
            await db.dispose()
        assert threads == [threading.get_ident()]

    asyncio.run(scenario())
    assert _names_in(path) == ["first", "second"]  # committed, seen by another connection


@WRITES
def test_a_write_that_must_wait_for_the_lock_is_rolled_back_and_done_once_in_a_thread(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "busy.db"
    db = _database(path)
    # A worker's transaction: it holds the write lock for held_s, then commits its own row.
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO things (name) VALUES ('worker')")
    held_s = 0.5

    def commit() -> None:
        holder.execute("COMMIT")
        holder.close()

    async def scenario() -> None:
        threads: list[int] = []
        await _waited_for(db, _add(db, how, threads, "api"), commit, held_s)
        # Tried on the loop's thread (refused the lock at once), then done again in a writer's.
        assert len(threads) == 2
        assert threads[0] == threading.get_ident() != threads[1]

    asyncio.run(scenario())
    # The API's row once, after the worker's: the attempt on the loop left nothing behind.
    assert _names_in(path) == ["first", "worker", "api"]


@WRITES
def test_a_write_not_inline_goes_to_a_thread(tmp_path: Path, how: str) -> None:
    path = tmp_path / "large.db"

    async def scenario() -> None:
        db = _database(path)
        threads: list[int] = []
        try:
            await _add(db, how, threads, "large", inline=False)
        finally:
            await db.dispose()
        assert len(threads) == 1 and threads[0] != threading.get_ident()

    asyncio.run(scenario())
    assert _names_in(path) == ["first", "large"]


def test_the_loops_kept_connection_sees_each_commit_and_outlives_a_failed_read(tmp_path: Path) -> None:
    """quick_rows on SQLite keeps the loop thread's connection between reads: each read still sees
    what others committed since (no snapshot is held over), and a read that failed leaves the next
    one a working connection."""
    path = tmp_path / "kept.db"

    async def scenario() -> None:
        db = _database(path)
        threads: list[int] = []
        try:
            assert await _names(db, "quick_rows", threads) == ["first"]
            for name in ("second", "third"):  # each read after a commit elsewhere sees it
                with sqlite3.connect(path) as other:
                    other.execute("INSERT INTO things (name) VALUES (?)", (name,))
                assert (await _names(db, "quick_rows", threads))[-1] == name
            with pytest.raises(OperationalError, match="no such column"):
                await db.quick_rows(lambda connection: connection.execute(text("SELECT missing FROM things")))
            assert await _names(db, "quick_rows", threads) == ["first", "second", "third"]
        finally:
            await db.dispose()
        assert set(threads) == {threading.get_ident()}

    asyncio.run(scenario())


@WRITES
def test_the_loops_kept_write_connection_commits_each_write_and_outlives_a_failed_one(
    tmp_path: Path, how: str
) -> None:
    """quick_write and quick_core_write on SQLite keep the loop thread's write connection between
    writes: each write is committed (another connection sees it), a write that failed leaves nothing
    behind, and the next write goes on the same connection."""
    path = tmp_path / "kept-writes.db"

    async def scenario() -> None:
        db = _database(path)
        connections: list[int] = []
        threads: list[int] = []

        def add(name: str, then: str = "") -> Callable[[Session | Connection], None]:
            def work(handle: Session | Connection) -> None:
                threads.append(threading.get_ident())
                connection = handle.connection() if isinstance(handle, Session) else handle
                connections.append(id(connection.connection.driver_connection))
                handle.execute(text("INSERT INTO things (name) VALUES (:name)"), {"name": name})
                if then:
                    handle.execute(text(then))

            return work

        write = db.quick_write if how == "quick_write" else db.quick_core_write
        try:
            await write(add("second"))
            assert _names_in(path) == ["first", "second"]
            with pytest.raises(OperationalError, match="no such table"):
                await write(add("lost", then="INSERT INTO missing VALUES (1)"))
            await write(add("third"))
            assert _names_in(path) == ["first", "second", "third"]
        finally:
            await db.dispose()
        assert set(threads) == {threading.get_ident()} and len(set(connections)) == 1

    asyncio.run(scenario())
