"""The run log: lines stamped with an ISO time, written to SQL in chunks while the run goes."""

from __future__ import annotations

import threading
import time
from typing import IO

from server.storage.db import SyncDatabase
from server.storage.ids import iso, utcnow
from server.storage.logs import APPEND

FLUSH_BYTES = 64 * 1024
FLUSH_INTERVAL_S = 0.5


class LogWriter:
    """Buffers log lines and appends them as chunks; cuts the log at max_chars."""

    def __init__(self, db: SyncDatabase, run_id: str, max_chars: int):
        self._db = db
        self._run_id = run_id
        self._max_chars = max_chars
        self._chars = 0
        self._seq = 0
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
            if self._chars + len(stamped) > self._max_chars:
                self._truncated = True
                note = f"[greenroom] The log reached its limit of {self._max_chars} characters."
                stamped = f"{iso(utcnow())} {note}\n"
            self._chars += len(stamped)
            self._buffer.append(stamped)
            self._buffered += len(stamped)
            if self._buffered >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        content = "".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        with self._db.begin() as connection:
            connection.execute(APPEND, {"run_id": self._run_id, "seq": self._seq, "content": content})
        self._seq += 1


def pump(output: IO[bytes], log: LogWriter) -> None:
    """Copy a child's output into the log, line by line, until EOF."""
    for raw in iter(output.readline, b""):
        log.line(raw.decode("utf-8", "replace"))
    output.close()
