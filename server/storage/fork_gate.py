"""No thread inside the database driver while the process forks.

A fork copies every lock as it stands, and the child has only the forking thread: a lock another
thread held at that instant stays held in the child forever. SQLite's are process-wide (its malloc
mutex, among others), so a callable actor forked while the worker's lease or abort thread was in the
middle of a statement hung on its first statement (seen: a child stuck in sqlite3Malloc for
minutes). Every use of a SyncDatabase passes the process's one gate (the driver's locks are the
process's, whichever engine holds them), and the fork waits for it to empty.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_SLOW_S = 0.25


class ForkGate:
    def __init__(self) -> None:
        self._reset()
        # Another thread may hold the condition's own lock at the fork (briefly, on its way to wait):
        # the child starts with a gate of its own.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._changed = threading.Condition()
        self._inside = 0
        self._forking = False

    @contextmanager
    def passing(self) -> Iterator[None]:
        """Around a use of the driver: many threads at once, none while a fork is under way."""
        with self._changed:
            while self._forking:
                self._changed.wait()
            self._inside += 1
        try:
            yield
        finally:
            with self._changed:
                self._inside -= 1
                self._changed.notify_all()

    @contextmanager
    def forking(self) -> Iterator[None]:
        """Around os.fork(): entered once no thread is inside (the calling one must not be either).
        No thread enters once a fork waits, or threads taking turns inside would starve it."""
        asked = time.monotonic()
        with self._changed:
            while self._forking:  # one fork at a time
                self._changed.wait()
            self._forking = True
            while self._inside:
                self._changed.wait()
        if (waited_s := time.monotonic() - asked) > _SLOW_S:
            log.warning("a fork waited %.2f s for database statements in flight", waited_s)
        try:
            yield
        finally:
            with self._changed:
                self._forking = False
                self._changed.notify_all()


FORK_GATE = ForkGate()
