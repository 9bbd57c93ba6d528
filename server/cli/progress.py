"""Progress of a long wait (a build, a push, a run), on stderr so that stdout stays the result.

On a terminal one line is rewritten with the status and the seconds waited; elsewhere (a pipe, a
log file) a line is written only when the status changes.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None):
        self._label = label
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._start = time.monotonic()
        self._last = ""

    def update(self, status: str) -> None:
        seconds = time.monotonic() - self._start
        if self._tty:
            self._stream.write(f"\r{self._label}: {status} ({seconds:.0f} s)\x1b[K")
        elif status != self._last:
            self._stream.write(f"{self._label}: {status}\n")
        self._stream.flush()
        self._last = status

    def done(self) -> None:
        if self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()
