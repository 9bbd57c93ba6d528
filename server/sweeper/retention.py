"""Data retention, run by the sweeper: old finished runs and unused unnamed storages are deleted
(server/storage/retention.py says what), a bounded batch per transaction.

Not every sweep (every 2 s): the queries scan, so a pass runs once a minute, and at once again
while the batches come back full, until a backlog is drained. Several sweepers may run at once;
a row two of them delete is simply deleted once.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from server.storage.ids import utcnow
from server.storage.retention import Expired, delete_expired
from server.sweeper.context import SweepContext

log = logging.getLogger(__name__)

BATCH = 200
EVERY_S = 60.0


def delete_old(ctx: SweepContext, limit: int = BATCH) -> Expired:
    """One batch: what expired GREENROOM_RETENTION_DAYS ago, at most `limit` rows of each kind."""
    if ctx.settings.retention_days <= 0:
        return Expired()
    before = utcnow() - timedelta(days=ctx.settings.retention_days)
    with ctx.db.begin() as connection:
        expired = delete_expired(connection, before, limit)
    if expired.runs or expired.storages:
        log.info("retention: deleted %d runs, %d storages", len(expired.runs), len(expired.storages))
    return expired


class Retention:
    """delete_old() when due: once a minute, and at the next sweep while batches come back full."""

    def __init__(self, ctx: SweepContext, every_s: float = EVERY_S, batch: int = BATCH):
        self._ctx = ctx
        self._every_s = every_s
        self._batch = batch
        self._due = time.monotonic()

    def __call__(self) -> Expired | None:
        if time.monotonic() < self._due:
            return None
        expired = delete_old(self._ctx, self._batch)
        self._due = time.monotonic() + (0 if expired.full(self._batch) else self._every_s)
        return expired
