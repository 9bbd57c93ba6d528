"""Redis restarted (its data gone) while run-sync requests wait and runs sit in the queue, and a run
started while Redis is down: every waiter gets its run's true end, and no run is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from server.embedded_redis import EmbeddedRedis
from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack, running
from worker.forked import pool_children

HELD = 12
RUN_S = 0.5


@pytest.fixture
def restartable(isolated_settings: Settings, tmp_path: Path) -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """A Greenroom of its own on a private redis-server that the test may stop and start again."""
    redis = EmbeddedRedis(tmp_path)
    url = redis.start()
    own = replace(
        isolated_settings,
        redis_url=url,
        orphan_after_s=1.5,
        sweep_interval_s=0.3,
    )
    try:
        with running(own, workers=2) as stack:
            yield stack, redis
    finally:
        redis.stop()


def test_waiters_and_queued_runs_survive_a_redis_restart(
    restartable: tuple[Stack, EmbeddedRedis], isolated_account: Account
) -> None:
    stack, redis = restartable
    with stack.client(isolated_account.token) as api, ThreadPoolExecutor(HELD) as pool:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        held = [
            pool.submit(api.post, f"/acts/{actor['id']}/run-sync", json={"seconds": RUN_S})
            for _ in range(HELD)
        ]
        time.sleep(0.3)  # two runs going, the rest waiting in the queue that the restart empties
        redis.stop()
        # A run started while Redis is down is committed and answered; its job comes later.
        during = api.post(f"/acts/{actor['id']}/runs", json={"seconds": RUN_S})
        assert during.status_code == 201, during.text
        assert during.json()["data"]["status"] == "READY"
        time.sleep(1.0)
        redis.start()
        _, waiting = wait(held, timeout=45)
        runs = api.get(f"/acts/{actor['id']}/runs", params={"limit": 100}).json()["data"]["items"]
        assert not waiting, (
            f"{len(waiting)} run-syncs unanswered; runs: {[(r['id'], r['status']) for r in runs]}"
        )
        answers = [f.result() for f in held]
        assert [a.status_code for a in answers] == [201] * HELD, [a.text for a in answers]
        assert all(a.json() == {"slept": RUN_S} for a in answers)
        deadline = time.monotonic() + 30
        while (run := api.get(f"/actor-runs/{during.json()['data']['id']}").json()["data"])[
            "status"
        ] != "SUCCEEDED":
            assert time.monotonic() < deadline, run
            time.sleep(0.1)
        runs = api.get(f"/acts/{actor['id']}/runs", params={"limit": 100}).json()["data"]
        assert runs["total"] == HELD + 1
        assert {r["status"] for r in runs["items"]} == {"SUCCEEDED"}


def _run_workers(pool_pid: int) -> set[int]:
    """The pool's run workers (not its webhook workers, not its proxy)."""
    return set(pool_children(pool_pid, "worker"))


def test_workers_outlive_a_redis_restart(
    restartable: tuple[Stack, EmbeddedRedis], isolated_account: Account
) -> None:
    """Seen: a worker whose run ended while Redis was away quit ("found an unhandled exception,
    quitting": RQ's bookkeeping of the job, or the run-finished publish, met the closed connection),
    and the pool started a new one from cold, which takes seconds on a loaded machine: the restart test
    above then waited out its limit under -n 3. A worker now waits for Redis and works on."""
    stack, redis = restartable
    pool = stack.processes[0]
    with stack.client(isolated_account.token) as api, ThreadPoolExecutor(2) as waiting:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        run_sync = f"/acts/{actor['id']}/run-sync"
        # Both workers listening first, so that the two runs go at once.
        stack.wait_for_workers(2)
        held = [waiting.submit(api.post, run_sync, json={"seconds": 3.0}) for _ in range(2)]
        deadline = time.monotonic() + 90
        while len(runs := _runs(api, actor["id"], "RUNNING")) < 2:
            assert time.monotonic() < deadline, runs
            time.sleep(0.05)
        before = _run_workers(pool.pid)
        assert len(before) == 2, before
        redis.stop()
        # Both runs end while Redis is away: their workers commit, then cannot publish or record the job.
        deadline = time.monotonic() + 60
        while len(_runs(api, actor["id"], "SUCCEEDED")) < 2:
            assert time.monotonic() < deadline, _runs(api, actor["id"], None)
            time.sleep(0.05)
        time.sleep(2.0)
        redis.start()
        answers = [f.result(timeout=30) for f in held]
        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        after = api.post(run_sync, json={"seconds": 0})
        assert after.status_code == 201, after.text
        # The same two processes: none quit and was started again from cold.
        assert _run_workers(pool.pid) == before


def _runs(api: httpx.Client, actor_id: str, status: str | None) -> list[str]:
    items = api.get(f"/acts/{actor_id}/runs", params={"limit": 100}).json()["data"]["items"]
    return [r["id"] for r in items if status is None or r["status"] == status]
