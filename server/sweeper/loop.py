"""Where sweeps run: a worker pool calls a Sweeping between keeping its children alive
(worker/main.py); an API process runs one in a thread of its own, started and stopped by its
lifespan (server/lifespan.py), so that the runs of a lost worker pool are ended even when no worker
is left. Only the process holding the lock (lock.py) sweeps.

The API's thread does its SQL with a sync engine of its own and its Redis with a sync client: the
sweeper's statements run in that thread, never on the event loop.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from server.queue import make_queue
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.sweeper.context import SweepContext
from server.sweeper.lock import SweepLock, sweep_lock_key
from server.sweeper.sweep import Sweeper, Swept

log = logging.getLogger(__name__)


class Sweeping:
    """One sweep when this process holds the deployment's sweeper lock; nothing otherwise."""

    def __init__(self, ctx: SweepContext):
        settings = ctx.settings
        self.lock = SweepLock(ctx.redis, sweep_lock_key(settings.redis_prefix), settings.sweep_lock_s)
        self._sweeper = Sweeper(ctx, make_queue(ctx.redis, settings.queue_name))

    def __call__(self) -> Swept | None:
        try:
            held = self.lock.hold()
        except RedisError as exc:  # Redis is away: nobody can tell who sweeps; try at the next tick
            log.warning("sweep skipped: no sweeper lock (%s)", exc)
            return None
        return self._sweeper() if held else None

    def close(self) -> None:
        try:
            self.lock.release()
        except RedisError as exc:  # it lapses by itself, one lease later
            log.warning("could not release the sweeper lock: %s", exc)


@dataclass(frozen=True)
class _ApiSweepContext:
    settings: Settings
    db: SyncDatabase
    redis: Redis


class SweeperThread:
    """The sweeper of an API process: a Sweeping every sweep_interval_s, from start() to stop()."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Blocks until the sweep under way ends and the lock is released (call it off the loop)."""
        self._stopping.set()
        if self._thread.ident is not None:  # started (a lifespan that failed earlier did not)
            self._thread.join()

    def _run(self) -> None:
        settings = self._settings
        ctx = _ApiSweepContext(
            settings, SyncDatabase(create_sync_engine(settings.sql_url)), Redis.from_url(settings.redis_url)
        )
        sweeping = Sweeping(ctx)
        try:
            while True:
                try:
                    sweeping()
                except Exception:
                    # A bug met in one sweep must not end this process's sweeping for good: the
                    # runs of a lost worker pool would hang again. It is logged and tried again.
                    log.exception("sweep failed")
                if self._stopping.wait(settings.sweep_interval_s):
                    break
        finally:
            sweeping.close()
            ctx.db.engine.dispose()
            ctx.redis.close()
