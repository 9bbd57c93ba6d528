"""The run log: lines stamped with an ISO time, written to SQL in chunks while the run goes.

After each chunk is committed, its run id is published on the log-appended channel, so streaming
log responses read it at once (they read SQL; the message only wakes them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import IO

from redis.exceptions import RedisError
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from server.events import publish_log_appended
from server.storage.db import SyncDatabase
from server.storage.ids import iso, utcnow
from server.storage.logs import RUN_LOG, LogTable
from worker.context import get_context
from worker.outage import database_unavailable

logger = logging.getLogger(__name__)

FLUSH_BYTES = 64 * 1024
FLUSH_INTERVAL_S = 0.5


def _context_notifier() -> Callable[[str], None]:
    """Publishes through this worker process's context: the one execute_run builds its db from."""
    ctx = get_context()
    return lambda run_id: publish_log_appended(ctx.redis, ctx.settings.redis_prefix, run_id)


class LogWriter:
    """Buffers log lines and appends them as chunks; cuts the log at max_chars.

    A line that is not flushed at once (another flush happened less than FLUSH_INTERVAL_S ago) is
    flushed by a timer at the end of that interval, so a quiet actor's last words reach followers
    while it goes on, not only at its end. `notify(run_id)` is called after each committed chunk.
    """

    def __init__(
        self,
        db: SyncDatabase,
        run_id: str,
        max_chars: int,
        *,
        notify: Callable[[str], None] | None = None,
        table: LogTable = RUN_LOG,
    ):
        self._db = db
        self._table = table  # a run's log, or (BUILD_LOG) a build's: run_id is then the build's id
        self._notify = notify or _context_notifier()
        self._timer: threading.Timer | None = None
        self._run_id = run_id
        self._max_chars = max_chars
        self._chars = 0
        self._seq: int | None = None  # read at the first flush: the log may have chunks already
        self._buffer: list[str] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._truncated = False
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        stamped = f"{iso(utcnow())} {text.rstrip(chr(10))}\n"
        with self._lock:
            if self._truncated:
                return
            # A line is kept only if the truncation note would still fit after it: the log, note
            # included, never passes max_chars.
            if self._chars + len(stamped) + len(self._note()) > self._max_chars:
                self._truncated = True
                stamped = self._note()
            self._chars += len(stamped)
            self._buffer.append(stamped)
            self._buffered += len(stamped)
            since_flush = time.monotonic() - self._last_flush
            if self._buffered >= FLUSH_BYTES or since_flush >= FLUSH_INTERVAL_S:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(FLUSH_INTERVAL_S - since_flush, self._timed_flush)
                self._timer.daemon = True
                self._timer.start()

    def _note(self) -> str:
        return f"{iso(utcnow())} [greenroom] The log was truncated at {self._max_chars} characters.\n"

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            self._flush_locked()

    def flush(self, *, strict: bool = False) -> None:
        """Write what is buffered now (a run handed back calls it before its next attempt).

        While the database is unavailable the lines stay buffered for the next flush; `strict`
        then raises (the caller retries), else the flush is only skipped.
        """
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._flush_locked(strict=strict)

    def _flush_locked(self, *, strict: bool = False) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        try:
            with self._db.begin() as connection:
                written = self._append(connection)
        except DBAPIError as exc:
            if strict or not database_unavailable(exc):
                raise
            logger.warning("run %s: log lines kept until the database is back (%s)", self._run_id, exc)
            return
        self._committed(written)

    def _append(self, connection: Connection) -> int:
        """The buffered lines as the next chunk, in `connection`'s transaction: how many."""
        if self._seq is None:
            self._seq = int(
                connection.execute(self._table.next_seq, {self._table.key: self._run_id}).scalar_one()
            )
        content = "".join(self._buffer)
        connection.execute(
            self._table.append, {self._table.key: self._run_id, "seq": self._seq, "content": content}
        )
        return len(self._buffer)

    def _committed(self, lines: int, *, notify: bool = True) -> None:
        written, self._buffer[:lines] = self._buffer[:lines], []
        self._buffered -= sum(map(len, written))
        assert self._seq is not None
        self._seq += 1
        if not notify:
            return
        # Committed: now wake the followers. A lost wake-up only delays them until the next chunk,
        # the run's end or the listener's resubscription, so Redis trouble must not fail the run.
        try:
            self._notify(self._run_id)
        except RedisError as exc:
            logger.warning("could not publish log-appended for run %s: %s", self._run_id, exc)

    def last_chunk(self, connection: Connection) -> Callable[[], None]:
        """What is buffered, as a chunk in the caller's transaction (the run's end: one commit for
        both, and the log is whole when the run ends); call what it returns once that committed.
        A transaction rolled back leaves the lines buffered and their chunk's number unused.

        No log-appended is published for this chunk: the run-finished that the caller publishes next
        wakes the log's followers too (server/events.py), one round trip sooner."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._buffer:
                return _nothing
            before = self._seq
            lines = self._append(connection)
            chunk, self._seq = self._seq, before  # the chunk's number is taken once it is committed

        def committed() -> None:
            with self._lock:
                self._seq = chunk
                self._committed(lines, notify=False)

        return committed


def _nothing() -> None:
    pass


def pump(output: IO[bytes], log: LogWriter) -> None:
    """Copy a child's output into the log, line by line, until EOF."""
    for raw in iter(output.readline, b""):
        log.line(raw.decode("utf-8", "replace"))
    output.close()
