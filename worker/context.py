"""The worker's per-process resources, built lazily per PID (never inherited across a fork)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from redis import Redis

from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    db: SyncDatabase
    redis: Redis


_current: tuple[int, WorkerContext] | None = None
_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Set the settings this process's context is built from (run_worker calls it at start)."""
    global _settings
    _settings = settings


def get_context() -> WorkerContext:
    global _current
    pid = os.getpid()
    if _current is None or _current[0] != pid:
        settings = _settings or Settings.from_env()
        context = WorkerContext(
            settings=settings,
            db=SyncDatabase(create_sync_engine(settings.sql_url)),
            redis=Redis.from_url(settings.redis_url),
        )
        _current = (pid, context)
    return _current[1]


def dispose_context() -> None:
    global _current
    if _current is not None and _current[0] == os.getpid():
        _current[1].db.engine.dispose()
        _current[1].redis.close()
    _current = None


def after_fork() -> None:
    """In a forked child: drop the parent's pooled connections without closing the parent's sockets.

    The engine itself (and its compiled-statement cache) is kept; it opens new connections on demand.
    redis-py notices the new pid by itself.
    """
    global _current
    if _current is not None and _current[0] != os.getpid():
        _current[1].db.engine.dispose(close=False)
        _current = (os.getpid(), _current[1])
