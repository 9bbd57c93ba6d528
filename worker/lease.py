"""The lease a worker holds on the run (or build) it executes, renewed while it runs.

A worker that dies stops renewing; the sweeper (server/sweeper/) then ends the run. A renewal
that moves no row means the run is no longer this worker's (a sweeper ended it while this worker was
stalled): `on_lost` is called once, and the supervisor stops the actor.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Update
from sqlalchemy.exc import SQLAlchemyError

from server.storage.db import SyncDatabase
from server.storage.ids import utcnow
from worker.per_process import PerProcess

log = logging.getLogger(__name__)


def lease_until(lease_s: float) -> Any:
    return utcnow() + timedelta(seconds=lease_s)


class Lease:
    """Renewed every lease_s / 3 from start() until close(), by this process's renewer thread."""

    def __init__(
        self,
        db: SyncDatabase,
        renew: Update,
        params: dict[str, Any],
        lease_s: float,
        on_lost: Callable[[], None],
    ):
        self._db = db
        self._renew = renew
        self.params = params
        self._lease_s = lease_s
        self._on_lost = on_lost
        # Held while a renewal runs: close() returns only once none does (and none will).
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        _renewer().add(self, time.monotonic() + self.interval_s)

    @property
    def interval_s(self) -> float:
        return self._lease_s / 3

    def renew(self) -> bool:
        """One renewal (the renewer's thread); False once the lease is closed or lost."""
        with self._lock:
            if self._closed:
                return False
            try:
                with self._db.begin() as connection:
                    moved = connection.execute(
                        self._renew, {**self.params, "until": lease_until(self._lease_s)}
                    )
            except SQLAlchemyError as exc:  # the database is away: try again; the lease may lapse
                log.warning("could not renew the lease %s: %s", self.params, exc)
                return True
            if moved.rowcount == 0:
                self._closed = True
                self._on_lost()
                return False
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True


class _Renewer:
    """One thread per process renews its leases when they are due. A thread of its own for each
    run's lease, started and joined with the run, was 0.25 ms of the run's path."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Lease]] = []
        self._added = itertools.count()  # orders leases due at the same moment
        self._changed = threading.Condition()
        threading.Thread(target=self._loop, name="lease-renewer", daemon=True).start()

    def add(self, lease: Lease, due: float) -> None:
        with self._changed:
            heapq.heappush(self._due, (due, next(self._added), lease))
            self._changed.notify()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, lease = heapq.heappop(self._due)
            try:
                renewing = lease.renew()
            except Exception:  # this thread renews every lease of the process: it goes on
                log.exception("renewing the lease %s failed; trying again", lease.params)
                renewing = True
            if renewing:
                self.add(lease, time.monotonic() + lease.interval_s)


# This process's, started at its first lease.
_renewer = PerProcess(_Renewer).get
