"""What a sweeper works with: a worker pool passes its WorkerContext (worker/context.py), an API
process the one its sweeper thread builds (server/sweeper/loop.py)."""

from __future__ import annotations

from typing import Protocol

from redis import Redis

from server.settings import Settings
from server.storage.db import SyncDatabase


class SweepContext(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> SyncDatabase: ...

    @property
    def redis(self) -> Redis: ...
