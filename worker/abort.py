"""Hearing that a run should abort (or was rebooted): a Redis message wakes the supervisor, SQL says how.

A message can be lost (Redis restarted, the connection dropped), so after every (re)subscription
the watcher reads the run from SQL too: an ABORTING run is aborted even if its message never came.
A message can also be forged (anyone who can PUBLISH on Redis), so a message only makes the watcher
read SQL: the run is aborted only if SQL says it is ABORTING.

The same read gives the run's reboot generation to `reboots` (worker/reboots.py): reboots and
metamorphs wake the supervisor on the same channel, and are believed from SQL only as well.
"""

from __future__ import annotations

import contextlib
import os
import threading

import redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.events import abort_channel, listener_name
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.runs import RUNS
from worker.reboots import RebootSignal
from worker.run_spec import generation


class AbortWatch:
    """A readable fd (for select) that becomes ready once the run is ABORTING."""

    def __init__(
        self, redis_url: str, prefix: str, db: SyncDatabase, run_id: str, reboots: RebootSignal | None = None
    ):
        self._client = redis.Redis.from_url(redis_url, client_name=listener_name(prefix, "abort"))
        self._channel = abort_channel(prefix, run_id)
        self._db = db
        self.run_id = self._run_id = run_id
        self.reboots = reboots
        self._read_fd, self._write_fd = os.pipe()
        self._fired = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"abort-{run_id}", daemon=True)

    def fileno(self) -> int:
        return self._read_fd

    def start(self) -> None:
        self._thread.start()

    def graceful(self) -> bool:
        """How the abort was asked for (read when it fires)."""
        with self._db.begin() as connection:
            value = connection.execute(
                select(RUNS.c.abort_gracefully).where(RUNS.c.id == self._run_id)
            ).scalar_one_or_none()
        return bool(value)

    def check(self) -> None:
        """Read the run from SQL: ABORTING fires the abort; a new generation goes to `reboots`."""
        with self._db.begin() as connection:
            row = connection.execute(
                select(RUNS.c.status, RUNS.c.reboot_count, RUNS.c.metamorphs).where(RUNS.c.id == self._run_id)
            ).one()
        if self.reboots is not None:
            self.reboots.seen(generation(row.reboot_count, row.metamorphs))
        if row.status == RunStatus.ABORTING.value:
            self.fire()

    def fire(self) -> None:
        """Abort now (also called when the run's lease is lost: the run is no longer ours)."""
        if not self._fired:
            self._fired = True
            os.write(self._write_fd, b"!")

    def _listen(self) -> None:
        while not self._closed.is_set():
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                for message in pubsub.listen():
                    if self._closed.is_set():
                        return
                    if message["type"] in ("message", "subscribe"):
                        self.check()
            # AttributeError: redis-py, when close() drops the connection under a blocked listen().
            # SQLAlchemyError: the database is away; resubscribing reads it again.
            except (
                redis.ConnectionError,
                redis.TimeoutError,
                OSError,
                ValueError,
                AttributeError,
                SQLAlchemyError,
            ):
                if self._closed.wait(0.5):
                    return
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self._client.close()
        # Closing the client's sockets ends a blocked listen() in the thread.
        with contextlib.suppress(Exception):
            self._client.connection_pool.disconnect()
        os.close(self._read_fd)
        os.close(self._write_fd)
