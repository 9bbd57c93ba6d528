"""Per-process resources of the API: built at startup, disposed at shutdown, in reverse order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio.to_thread
from redis import Redis
from rq import Queue
from starlette.requests import Request

from server.events import RunWaiters
from server.queue import ENQUEUERS, make_queue
from server.quick_threads import QuickThreads
from server.services.coalesce import Coalescer
from server.services.reads import record_reads, run_end_reads, run_reads
from server.settings import Settings
from server.standby.clients import StandbyClients
from server.storage.db import Database, create_async_db_engine, create_sync_engine
from server.storage.rows import RecordRow, RunEnd, RunRow
from server.sweeper.loop import SweeperThread


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    redis: Redis  # sync client, used only through the RQ adapter (in a thread)
    queue: Queue
    waiters: RunWaiters
    standby: StandbyClients
    # What woken waiters read (their runs, run-sync's records), read together: a burst of finishes
    # costs one query per batch, not one session per request (server/services/reads.py).
    runs: Coalescer[str, RunRow] = field(init=False)
    run_ends: Coalescer[str, RunEnd] = field(init=False)  # run-sync's: status and storages only
    records: Coalescer[tuple[str, str], RecordRow] = field(init=False)
    # Work a request started and does not wait for (server/services/token_use.py), held until done.
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # The threads that enqueue runs' jobs (server/queue.py enqueue_run): RQ's client blocks.
    enqueuing: QuickThreads = field(default_factory=lambda: QuickThreads(ENQUEUERS, "greenroom-enqueue"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", run_reads(self.db))
        object.__setattr__(self, "run_ends", run_end_reads(self.db))
        object.__setattr__(self, "records", record_reads(self.db))


def state_of(request: Request) -> AppState:
    return cast(AppState, request.state.app)


@asynccontextmanager
async def lifespan_for(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    engine = create_async_db_engine(settings.sql_url)
    redis_client = Redis.from_url(settings.redis_url)
    waiters = RunWaiters(settings.redis_url, settings.redis_prefix)
    state = AppState(
        settings=settings,
        db=Database(engine, create_sync_engine(settings.sql_url)),
        redis=redis_client,
        queue=make_queue(redis_client, settings.queue_name),
        waiters=waiters,
        standby=StandbyClients.open(settings),
    )
    # Every API process may be the deployment's sweeper (server/sweeper/): with no worker pool left,
    # the runs of the lost ones are still ended and their waiters answered.
    sweeper = SweeperThread(settings)
    try:
        await waiters.start()
        sweeper.start()
        yield {"app": state}
    finally:
        await anyio.to_thread.run_sync(sweeper.stop)
        await asyncio.gather(*state.background, return_exceptions=True)
        await waiters.stop()
        await state.enqueuing.close()
        await state.standby.aclose()
        redis_client.close()
        await state.db.dispose()
