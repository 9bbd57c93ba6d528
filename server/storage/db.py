"""Engines and sessions: async for the API, sync for the worker, one URL for both."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from server.quick_threads import QuickThreads
from server.storage.fork_gate import FORK_GATE

T = TypeVar("T")
H = TypeVar("H", Session, Connection)  # what a quick read is handed


def driver_url(url: str, *, asynchronous: bool) -> str:
    """Map a plain sqlite:// or postgresql:// URL to the driver each side uses."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite" if asynchronous else "sqlite+pysqlite"))
    if backend == "postgresql":
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


# How long a SQLite statement waits for a lock before it fails (the inline reads' is shorter: below).
BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    # WAL lets the API read while a worker writes; NORMAL sync is 5x faster and still crash-safe in WAL.
    cursor = dbapi_connection.cursor()
    # First: the pragmas below may wait for a lock too (journal_mode, on a database held exclusively).
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _pre_ping(url: str) -> bool:
    # A server connection can go stale (restarts, idle timeouts); a SQLite file cannot, and the ping
    # would cost every session a round trip.
    return make_url(url).get_backend_name() != "sqlite"


def create_sync_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    engine = create_engine(driver_url(url, asynchronous=False), pool_pre_ping=_pre_ping(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
    return engine


def create_async_db_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(driver_url(url, asynchronous=True), pool_pre_ping=_pre_ping(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


# Threads of an API process that make quick reads (Database.quick_read) at once: two keep a core
# busy; more only contend for the GIL (a sync read in anyio's default pool of 40 threads cost three
# times the CPU with 32 at once). Quick writes have threads of their own: a write waiting for
# SQLite's lock never holds a read up.
QUICK_READERS = 2
QUICK_WRITERS = 2
# On SQLite a quick read is made on the event loop's own thread, with a connection that waits this
# long for a lock before the read goes to a reader thread instead (below). A quick write is tried
# there too, with a connection that does not wait for the write lock at all.
INLINE_BUSY_TIMEOUT_MS = 20
INLINE_WRITE_BUSY_TIMEOUT_MS = 0
# A write of more bytes than this (a record, a push of items) is made in a writer thread: its time
# grows with its size, and the loop must not wait for it (quick_write(..., inline=False)).
INLINE_WRITE_MAX_BYTES = 64 * 1024


class Database:
    """The API's database handle: one async engine and its session factory, and a sync engine for
    the reads every request makes (quick_read).

    An async session on SQLAlchemy's async adaptation costs several thread hops per statement: a
    one-row read took 730 us of CPU alone and 1.6 ms among 32 at once, against 290 us on the quick
    path (bench/db_reads.py, this 2-core kind, SQLite). The hot reads (every request's token, a
    start's task and actor, GET of a run or of a record, a woken waiter's run and record) and the
    calls a crawl makes per page (request queue calls, record PUTs, dataset pushes, charges) take
    the quick path; other units of work keep their async sessions.

    On SQLite a quick read does not leave the event loop's thread: the hand-off to a reader thread
    and back (a queue, a futex, the loop's self-pipe) cost more than the read, 390 against 150 us of
    CPU (bench/db_reads.py). A WAL reader does not wait for writers, so the read cannot hold the
    loop up behind a worker's transaction; in the rare cases where SQLite makes a reader wait (a
    connection in exclusive locking mode, recovery after a crash), the inline connection gives up
    after INLINE_BUSY_TIMEOUT_MS and the read goes to a reader thread, which waits as long as it must.

    A quick write on SQLite is tried on the loop's thread too, with a connection that does not wait
    for the database's write lock: a worker holding it makes the attempt fail at its first write
    statement (SQLite takes the lock there; the statements before it only read), the attempt is
    rolled back, and the unit of work is done again in a writer thread, which waits for the lock.
    """

    def __init__(self, engine: AsyncEngine, sync_engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.sync_engine = sync_engine
        self._sync_sessions = sessionmaker(self.sync_engine, expire_on_commit=False)
        self._readers = QuickThreads(QUICK_READERS, "greenroom-quick-read")
        self._writers = QuickThreads(QUICK_WRITERS, "greenroom-quick-write")
        self._inline_engine: Engine | None = None
        self._inline: sessionmaker[Session] | None = None
        self._inline_write_engine: Engine | None = None
        if self.dialect == "sqlite":
            url = str(sync_engine.url)
            self._inline_engine = create_sync_engine(url, busy_timeout_ms=INLINE_BUSY_TIMEOUT_MS)
            self._inline = sessionmaker(self._inline_engine, expire_on_commit=False)
            self._inline_write_engine = create_sync_engine(url, busy_timeout_ms=INLINE_WRITE_BUSY_TIMEOUT_MS)
        # Connections kept open for the loop's thread: quick_rows' reads, the quick writes' writes.
        self._kept_reads = _KeptConnection(self._inline_engine, writes=False)
        self._kept_writes = _KeptConnection(self._inline_write_engine, writes=True)

    async def quick_read(self, read: Callable[[Session], T], *, inline: bool = True) -> T:
        """read(session) in a sync session: on SQLite in this thread, else (or when SQLite makes it
        wait for a lock) in one of QUICK_READERS threads; what it returns is detached (loaded, not
        refreshed). inline=False: always in a thread (a read whose time grows with the data, such
        as a sum over a store's records, must not hold the loop)."""
        return await self._quick(self._inline if inline else None, self._sync_sessions, read)

    async def quick_rows(self, read: Callable[[Connection], T]) -> T:
        """As quick_read, with a Core connection: for prebuilt statements whose rows are enough
        (server/storage/rows.py), without a Session and the ORM's entities."""
        inline = self._kept_reads.open if self._inline_engine is not None else None
        return await self._quick(inline, self.sync_engine.connect, read)

    @contextmanager
    def _kept_session(self) -> Iterator[Session]:
        """A session in the kept write connection's transaction: flushed at the end, and committed
        with the connection's (the session itself never commits; its rollback is the connection's)."""
        with self._kept_writes.open() as connection:
            session = Session(bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only")
            try:
                yield session
                session.flush()
            finally:
                session.close()

    async def quick_write(self, work: Callable[[Session], T], *, inline: bool = True) -> T:
        """work(session) as one small unit of work in a sync session, committed (rolled back on any
        error): on SQLite in this thread unless another connection holds the write lock, else in
        one of QUICK_WRITERS threads. work may run twice (the first attempt rolled back), so it
        changes nothing but the database. inline=False: always in a thread (a write whose time
        grows with the data, such as a large push of items, must not hold the loop)."""
        on_loop = self._kept_session if inline and self._inline_write_engine is not None else None
        return await self._quick(on_loop, self._sync_sessions.begin, work, self._writers)

    async def quick_core_write(self, work: Callable[[Connection], T], *, inline: bool = True) -> T:
        """As quick_write, with a Core connection in a transaction: for a unit of work of prebuilt
        statements only (a record's put), without a Session's begin, flush and commit around them."""
        on_loop = self._kept_writes.open if inline and self._inline_write_engine is not None else None
        return await self._quick(on_loop, self.sync_engine.begin, work, self._writers)

    async def _quick(
        self,
        inline: Callable[[], AbstractContextManager[H]] | None,
        threaded: Callable[[], AbstractContextManager[H]],
        work: Callable[[H], T],
        threads: QuickThreads | None = None,
    ) -> T:
        """work(handle) with a handle from inline() on this thread; when SQLite made it wait for a
        lock (rolled back), or without inline, with one from threaded() in one of the threads."""
        if inline is not None:
            try:
                with inline() as handle:
                    return work(handle)
            except OperationalError as exc:
                if not _waited_for_a_lock(exc):
                    raise
        return await (threads or self._readers).run(lambda: _within(threaded, work))

    async def dispose(self) -> None:
        self._kept_reads.close()
        self._kept_writes.close()
        await self._readers.close()
        await self._writers.close()
        await self.engine.dispose()
        self.sync_engine.dispose()
        for inline in (self._inline_engine, self._inline_write_engine):
            if inline is not None:
                inline.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any error."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short read-only session (a fresh snapshot each time)."""
        async with self._sessions() as session:
            yield session


class _KeptConnection:
    """A connection of an inline engine (SQLite's, on the event loop's thread) kept open between
    quick units of work: taking one from the pool and giving it back was about a tenth of a GET's
    CPU (bench/profile.py --kind get), and `Engine.begin` about 6% of a record put's. A read ends
    its transaction; a write is one, committed at the end. After an error the connection is rolled
    back and kept, unless it is broken: then the next use opens another."""

    def __init__(self, engine: Engine | None, *, writes: bool) -> None:
        self._engine = engine
        self._writes = writes
        self._kept: tuple[int, Connection] | None = None  # (its thread, the connection)

    @contextmanager
    def open(self) -> Iterator[Connection]:
        assert self._engine is not None
        thread = threading.get_ident()
        if self._kept is None:
            self._kept = (thread, self._engine.connect())
        owner, connection = self._kept
        if owner != thread:  # another loop's thread (never in the API): a connection of its own
            with self._engine.connect() as own, own.begin():
                yield own
            return
        try:
            if self._writes:
                with connection.begin():
                    yield connection
            else:
                yield connection
                connection.rollback()
        except BaseException:
            if connection.invalidated or not _rolled_back(connection):
                self.close()
            raise

    def close(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(Exception):
                self._kept[1].close()
            self._kept = None


def _rolled_back(connection: Connection) -> bool:
    """Whether the connection's transaction, if any, was rolled back (a write's was by its begin())."""
    try:
        connection.rollback()
    except Exception:
        return False
    return True


def _within(open_: Callable[[], AbstractContextManager[H]], read: Callable[[H], T]) -> T:
    with open_() as handle:
        return read(handle)


def _waited_for_a_lock(exc: OperationalError) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"), raised once the busy timeout has passed."""
    return "database is locked" in str(exc.orig)


class SyncDatabase:
    """The worker's database handle. Used through transaction() and begin() only: a fork (a callable
    actor's start) waits until no thread is inside the driver (server/storage/fork_gate.py)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with FORK_GATE.passing(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core connection in a transaction: for prebuilt statements on hot paths (no ORM)."""
        with FORK_GATE.passing(), self.engine.begin() as connection:
            yield connection
