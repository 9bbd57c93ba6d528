"""Woken together, read together: a burst of finishes costs a few queries, not one per waiter."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import redis
from sqlalchemy import event, update

from server.events import publish_run_finished
from server.lifespan import AppState, lifespan_for
from server.services import waiting
from server.services.coalesce import Coalescer
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.models import Run
from tests.actors import callable_actor
from tests.runs_db import insert_run

WAITERS = 60


def test_waiters_woken_together_read_their_runs_in_one_query(
    settings: Settings, api: httpx.Client, db: SyncDatabase
) -> None:
    actor_id = api.post("/acts", json=callable_actor("burst", "noop")).json()["data"]["id"]
    run_ids = [insert_run(db, actor_id) for _ in range(WAITERS)]

    async def body(state: AppState) -> tuple[list[str], int, float]:
        waiters = [asyncio.create_task(waiting.wait_for_finish(state, r, 20)) for r in run_ids]
        await asyncio.sleep(0.5)  # every waiter has read its run RUNNING and waits
        selects = 0

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            nonlocal selects
            selects += statement.lstrip().upper().startswith("SELECT")

        event.listen(state.db.engine.sync_engine, "before_cursor_execute", count)
        with db.transaction() as session:
            session.execute(update(Run).where(Run.id.in_(run_ids)).values(status=RunStatus.SUCCEEDED.value))
        client = redis.Redis.from_url(settings.redis_url)
        started = time.monotonic()
        pipe = client.pipeline(transaction=False)
        for run_id in run_ids:
            publish_run_finished(pipe, settings.redis_prefix, run_id)
        pipe.execute()
        client.close()
        runs = await asyncio.gather(*waiters)
        return [r.status for r in runs], selects, time.monotonic() - started

    async def with_state() -> tuple[list[str], int, float]:
        async with lifespan_for(settings) as state:
            return await body(state["app"])

    statuses, selects, elapsed = asyncio.run(with_state())
    assert statuses == ["SUCCEEDED"] * WAITERS
    # The messages may arrive over a few loop turns; one query per waiter would be WAITERS.
    assert selects <= 6, selects
    assert elapsed < 5


def test_a_failed_fetch_raises_in_every_caller_and_a_gone_caller_is_skipped() -> None:
    calls: list[list[str]] = []

    async def fetch(keys: list[str]) -> dict[str, int]:
        calls.append(keys)
        if "bad" in keys:
            raise RuntimeError("the database is away")
        return {k: len(k) for k in keys if k != "absent"}

    async def body() -> tuple[list[Any], list[Any]]:
        reads: Coalescer[str, int] = Coalescer(fetch, chunk=2)
        ok = await asyncio.gather(reads.get("a"), reads.get("bb"), reads.get("bb"), reads.get("absent"))
        gone = asyncio.create_task(reads.get("ccc"))
        failing = [asyncio.create_task(reads.get("bad")) for _ in range(2)]
        await asyncio.sleep(0)
        gone.cancel()
        failed = await asyncio.gather(*failing, return_exceptions=True)
        return ok, failed

    ok, failed = asyncio.run(body())
    assert ok == [1, 2, 2, None]
    assert calls[:2] == [["a", "bb"], ["absent"]]  # one fetch per chunk of distinct keys
    assert [str(e) for e in failed] == ["the database is away"] * 2
    assert calls[2] == ["ccc", "bad"]  # the gone caller's key was still in the batch
