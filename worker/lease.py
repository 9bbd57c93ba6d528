"""The lease a worker holds on the run (or build) it executes, renewed while it runs.

A worker that dies stops renewing; the sweeper (server/sweeper/) then ends the run. A renewal
that moves no row means the run is no longer this worker's (a sweeper ended it while this worker was
stalled): `on_lost` is called once, and the supervisor stops the actor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Update
from sqlalchemy.exc import SQLAlchemyError

from server.storage.db import SyncDatabase
from server.storage.ids import utcnow

log = logging.getLogger(__name__)


def lease_until(lease_s: float) -> Any:
    return utcnow() + timedelta(seconds=lease_s)


class Lease:
    """Renews every lease_s / 3 in a thread, from start() until close()."""

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
        self._params = params
        self._lease_s = lease_s
        self._on_lost = on_lost
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.wait(self._lease_s / 3):
            try:
                with self._db.begin() as connection:
                    moved = connection.execute(
                        self._renew, {**self._params, "until": lease_until(self._lease_s)}
                    )
            except SQLAlchemyError as exc:  # the database is away: try again; the lease may lapse
                log.warning("could not renew the lease %s: %s", self._params, exc)
                continue
            if moved.rowcount == 0:
                if not self._closed.is_set():
                    self._on_lost()
                return

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
