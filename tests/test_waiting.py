"""Waiting without polling: the 408 limit, the finish/wait race, and a lost pub/sub connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import update

from server.events import publish_run_finished, publish_run_started
from server.lifespan import AppState, lifespan_for
from server.services import waiting
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.models import Run
from server.storage.runs import finish
from server.wake import Wake
from tests.actors import callable_actor
from tests.named_run import named_run
from tests.runs_db import insert_run, runs_of_task
from tests.services import kill_listeners
from tests.stack import Stack, free_port


def _finish(db: SyncDatabase, run_id: str) -> None:
    with db.transaction() as session:
        ending, params = finish(run_id, RunStatus.SUCCEEDED, exit_code=0, status_message="done", stats={})
        ending.execute(session, params)


def _actor(api: httpx.Client, target: str = "sleep") -> dict[str, Any]:
    response = api.post("/acts", json=callable_actor(f"a-{target.replace('_', '-')}", target))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_run_sync_408_after_limit_and_run_keeps_going(
    stack: Stack, api: httpx.Client, db: SyncDatabase
) -> None:
    """An API process with a 1 s run-sync limit answers 408; the run still ends SUCCEEDED later."""
    short_url = stack.start_api(replace(stack.settings, port=free_port(), run_sync_wait_s=1.0))
    actor = _actor(api)
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": "sleeper-task"}).json()["data"]
    started = time.monotonic()
    response = httpx.post(
        f"{short_url}/v2/actor-tasks/{task['id']}/run-sync",
        json={"seconds": 3},
        headers=api.headers,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 408
    assert response.json()["error"] == {
        "type": "run-timeout-exceeded",
        "message": "Actor run exceeded the timeout of 1 seconds for this API endpoint",
    }
    assert elapsed > 0.9  # held for the limit; the run still RUNNING below shows it was not waited for
    (run,) = runs_of_task(db, task["id"])
    assert run.status == "RUNNING"
    # The 408 names the run that goes on, so the caller can wait for it.
    finished = named_run(api, response)
    assert finished["id"] == run.id and finished["status"] == "SUCCEEDED"
    record = api.get(f"/key-value-stores/{finished['defaultKeyValueStoreId']}/records/OUTPUT")
    assert record.json() == {"slept": 3.0}


async def _with_state(settings: Settings, body: Callable[[AppState], Any]) -> Any:
    async with lifespan_for(settings) as state:
        return await body(state["app"])


def test_finish_between_read_and_wait_is_not_missed(
    settings: Settings, api: httpx.Client, db: SyncDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run finishes (commit + publish) right after the waiter's first SQL read saw it RUNNING.

    A waiter that subscribed only after reading would miss the message and hang until its deadline.
    """
    run_id = insert_run(db, _actor(api)["id"])
    real_read = waiting.read_run
    reads = 0

    async def read_then_finish(state: AppState, rid: str, ends_only: bool = False) -> Any:
        nonlocal reads
        reads += 1
        run = await real_read(state, rid, ends_only)
        if reads == 1:
            _finish(db, rid)
            client = redis.Redis.from_url(settings.redis_url)
            publish_run_finished(client, settings.redis_prefix, rid)
            client.close()
        return run

    monkeypatch.setattr(waiting, "read_run", read_then_finish)

    async def body(state: AppState) -> tuple[str, float]:
        started = time.monotonic()
        run = await waiting.wait_for_finish(state, run_id, 20)
        return run.status, time.monotonic() - started

    status, elapsed = asyncio.run(_with_state(settings, body))
    assert status == "SUCCEEDED"
    assert elapsed < 2
    assert reads == 2


def test_waiters_reread_sql_after_pubsub_connection_is_killed(
    settings: Settings, api: httpx.Client, db: SyncDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finish message is lost (never published) while the listener's connection is killed.

    After the listener re-subscribes, every waiter re-reads SQL and sees the run finished.
    """
    actor_id = _actor(api)["id"]
    run_ids = [insert_run(db, actor_id) for _ in range(3)]
    real_read = waiting.read_run
    reads = 0

    async def counting_read(state: AppState, rid: str, ends_only: bool = False) -> Any:
        nonlocal reads
        run = await real_read(state, rid, ends_only)
        reads += 1
        return run

    monkeypatch.setattr(waiting, "read_run", counting_read)

    async def body(state: AppState) -> tuple[list[str], float]:
        waiters = [asyncio.create_task(waiting.wait_for_finish(state, rid, 20)) for rid in run_ids]
        while reads < len(run_ids):  # every waiter has read RUNNING and is now waiting
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        for rid in run_ids:
            _finish(db, rid)  # committed, but no message: as if it was published while we were away
        before = state.waiters.resubscriptions
        started = time.monotonic()
        assert kill_listeners(settings.redis_url, settings.redis_prefix) > 0
        runs = await asyncio.gather(*waiters)
        assert state.waiters.resubscriptions > before
        assert reads == 2 * len(run_ids)
        return [r.status for r in runs], time.monotonic() - started

    statuses, elapsed = asyncio.run(_with_state(settings, body))
    assert statuses == ["SUCCEEDED"] * 3
    assert elapsed < 5


def _publish(settings: Settings, publish: Callable[[redis.Redis, str, str], None], run_id: str) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    publish(client, settings.redis_prefix, run_id)
    client.close()


def test_a_finish_waiter_is_not_woken_by_the_runs_start_and_a_claim_waiter_is(
    settings: Settings, api: httpx.Client, db: SyncDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's claim publishes run-started. A run-sync (a finish waiter) read the run again for
    it, once per run, for nothing; a start that waits for the claim must still hear it."""
    actor_id = _actor(api)["id"]
    finishing, claimed = (insert_run(db, actor_id, RunStatus.READY) for _ in range(2))
    real_read = waiting.read_run
    reads: list[str] = []

    async def counting_read(state: AppState, rid: str, ends_only: bool = False) -> Any:
        reads.append(rid)
        return await real_read(state, rid, ends_only)

    monkeypatch.setattr(waiting, "read_run", counting_read)

    async def body(state: AppState) -> tuple[list[str], float]:
        finish_waiter = asyncio.create_task(waiting.wait_for_finish(state, finishing, 20))
        with state.waiters.watch(claimed, started=True) as woken:
            ready = await real_read(state, claimed)
            claim_waiter = asyncio.create_task(waiting.wait_for_claim(state, claimed, 20, woken, ready))
            while not reads:  # the finish waiter has read READY and waits
                await asyncio.sleep(0.01)
            for rid in (finishing, claimed):
                with db.transaction() as session:
                    session.execute(update(Run).where(Run.id == rid).values(status=RunStatus.RUNNING.value))
                _publish(settings, publish_run_started, rid)
            started = time.monotonic()
            assert (await claim_waiter).status == "RUNNING"
            claim_s = time.monotonic() - started
        await asyncio.sleep(0.3)  # the finish waiter's started message has come by now
        assert reads == [finishing, claimed]
        _finish(db, finishing)
        _publish(settings, publish_run_finished, finishing)
        assert (await finish_waiter).status == "SUCCEEDED"
        return reads, claim_s

    read, claim_s = asyncio.run(_with_state(settings, body))
    assert read == [finishing, claimed, finishing]  # the claim was no reason to read `finishing`
    assert claim_s < 2


def test_wait_for_finish_returns_running_run_at_deadline(
    settings: Settings, api: httpx.Client, db: SyncDatabase
) -> None:
    run_id = insert_run(db, _actor(api)["id"])

    async def body(state: AppState) -> tuple[str, float]:
        started = time.monotonic()
        run = await waiting.wait_for_finish(state, run_id, 0.5)
        return run.status, time.monotonic() - started

    status, elapsed = asyncio.run(_with_state(settings, body))
    assert status == "RUNNING"
    assert 0.45 < elapsed < 2


def test_get_run_wait_for_finish_wakes_on_finish(
    api: httpx.Client, db: SyncDatabase, settings: Settings
) -> None:
    """GET /actor-runs/:id?waitForFinish answers as soon as the run finishes, not at the deadline."""
    run_id = insert_run(db, _actor(api)["id"])

    def finish_soon() -> None:
        time.sleep(0.5)
        _finish(db, run_id)
        client = redis.Redis.from_url(settings.redis_url)
        publish_run_finished(client, settings.redis_prefix, run_id)
        client.close()

    import threading

    threading.Thread(target=finish_soon).start()
    started = time.monotonic()
    response = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 999999})
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 3


def test_a_wake_survives_its_waits_timing_out_and_wakes_every_waiter() -> None:
    """server/wake.py: a wait that times out (by its own timeout, or cancelled by the caller's) leaves
    the wake usable and unset; a set wakes every waiter but a cancelled one; once set, a wait returns
    at once until it is cleared."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        wake = Wake()
        for _ in range(2):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await wake.wait()
            began = loop.time()
            await wake.wait(0.05)  # its own timeout: it returns, unset
            assert loop.time() - began >= 0.04
            assert not wake.is_set()
        waiters = [asyncio.create_task(wake.wait()) for _ in range(3)]
        waiters.append(asyncio.create_task(wake.wait(30)))
        await asyncio.sleep(0)
        waiters[0].cancel()
        await asyncio.sleep(0)
        wake.set()
        await asyncio.wait_for(asyncio.gather(*waiters[1:]), 1)
        assert waiters[0].cancelled()
        await asyncio.wait_for(wake.wait(), 1)  # still set
        wake.clear()
        assert not wake.is_set()
        late = asyncio.create_task(wake.wait())
        await asyncio.sleep(0.01)
        assert not late.done()  # the earlier waiters left nothing behind that would end it
        wake.set()
        await asyncio.wait_for(late, 1)

    asyncio.run(scenario())
