"""Engines and sessions: async for the API, sync for the worker, one URL for both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from server.storage.fork_gate import FORK_GATE


def driver_url(url: str, *, asynchronous: bool) -> str:
    """Map a plain sqlite:// or postgresql:// URL to the driver each side uses."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite" if asynchronous else "sqlite+pysqlite"))
    if backend == "postgresql":
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; NORMAL sync is 5x faster and still crash-safe in WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _pre_ping(url: str) -> bool:
    # A server connection can go stale (restarts, idle timeouts); a SQLite file cannot, and the ping
    # would cost every session a round trip.
    return make_url(url).get_backend_name() != "sqlite"


def create_sync_engine(url: str) -> Engine:
    engine = create_engine(driver_url(url, asynchronous=False), pool_pre_ping=_pre_ping(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_async_db_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(driver_url(url, asynchronous=True), pool_pre_ping=_pre_ping(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The API's database handle: one async engine and its session factory."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

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
