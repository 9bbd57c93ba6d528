"""A whole worker pool SIGKILLed (its process group: the pool, its workers, its proxy) while its runs
go and run-syncs wait on them, with no other pool left: an API process's sweeper takes the sweeper
lock the dead pool held, fails the runs, and every waiter is answered FAILED within 15 s. A pool
started afterwards runs the next run. Before, the runs stayed RUNNING for good (the sweeper ran only
in worker pools) and run-sync waited out its 300 s."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from redis import Redis

from server.settings import Settings
from server.sweeper.lock import sweep_lock_key
from tests.actors import callable_actor
from tests.conftest import Account
from tests.procs import alive
from tests.stack import Stack, wait_until_listening
from worker.forked import NAMES, pool_children

DETECT_S = 15.0
RUNS = 2  # one per worker of the pool: every run of the test is going when the pool dies
KINDS = list(NAMES)


def lock_holder(redis: Redis, prefix: str) -> int | None:
    """The pid of the process holding the deployment's sweeper lock (its value is host:pid:random)."""
    value = redis.get(sweep_lock_key(prefix))
    return None if value is None else int(value.decode().split(":")[1])


def until_holder(redis: Redis, prefix: str, pid: int, within_s: float) -> float:
    """Seconds until `pid` holds the sweeper lock."""
    started = time.monotonic()
    while lock_holder(redis, prefix) != pid:
        assert time.monotonic() - started < within_s, (
            f"{pid} never held the lock ({lock_holder(redis, prefix)})"
        )
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def pool_first(isolated_settings: Settings) -> Iterator[tuple[Stack, Redis]]:
    """A pool in a process group of its own that holds the sweeper lock, then an API process (whose
    sweeper therefore waits): the pool's death must hand the sweeping over. Short run leases."""
    settings = replace(isolated_settings, run_lease_s=3.0, sweep_interval_s=0.5)
    stack = Stack(settings)
    with Redis.from_url(settings.redis_url) as redis:
        try:
            pool = stack.start_workers(RUNS, own_group=True)
            until_holder(redis, settings.redis_prefix, pool.pid, 30)
            stack.start_api()
            wait_until_listening(settings.proxy_port, pool)
            yield stack, redis
        finally:
            stack.stop()


def _running_runs(api: httpx.Client, actor_id: str, count: int) -> list[str]:
    """The actor's runs once `count` of them have their actor going (it wrote PIDS)."""
    deadline = time.monotonic() + 30
    while True:
        runs = api.get(f"/acts/{actor_id}/runs").json()["data"]["items"]
        going = [
            r["id"]
            for r in runs
            if r["status"] == "RUNNING"
            and api.get(f"/key-value-stores/{r['defaultKeyValueStoreId']}/records/PIDS").status_code == 200
        ]
        if len(going) == count:
            return going
        assert time.monotonic() < deadline, runs
        time.sleep(0.1)


def _actor_pids(api: httpx.Client, run_id: str) -> dict[str, int]:
    store = api.get(f"/actor-runs/{run_id}").json()["data"]["defaultKeyValueStoreId"]
    pids: dict[str, int] = api.get(f"/key-value-stores/{store}/records/PIDS").json()
    return pids


def test_a_killed_pool_fails_its_runs_and_answers_run_syncs_and_a_new_pool_runs_the_next(
    pool_first: tuple[Stack, Redis], isolated_account: Account
) -> None:
    stack, redis = pool_first
    pool, api_proc = stack.processes
    prefix = stack.settings.redis_prefix
    with stack.client(isolated_account.token) as api, ThreadPoolExecutor(RUNS + 1) as waiting:
        actor = api.post("/acts", json=callable_actor("doomed", "pids_then_sleep")).json()["data"]
        held = [
            waiting.submit(api.post, f"/acts/{actor['id']}/run-sync", json={"seconds": 120})
            for _ in range(RUNS)
        ]
        run_ids = _running_runs(api, actor["id"], RUNS)
        watched = waiting.submit(api.get, f"/actor-runs/{run_ids[0]}", params={"waitForFinish": 60})
        actors = [_actor_pids(api, run_id)["actor"] for run_id in run_ids]
        assert lock_holder(redis, prefix) == pool.pid
        os.killpg(pool.pid, signal.SIGKILL)
        killed = time.monotonic()
        answers = [f.result(timeout=DETECT_S + 5) for f in held]
        detected_s = time.monotonic() - killed
        print(f"pool SIGKILL to the run-syncs' FAILED answers: {detected_s:.2f} s")
        assert detected_s < DETECT_S, detected_s
        assert [a.status_code for a in answers] == [400] * RUNS, [a.text for a in answers]
        assert {a.json()["error"]["type"] for a in answers} == {"run-failed"}
        assert watched.result(timeout=5).json()["data"]["status"] == "FAILED"
        for run_id in run_ids:
            run = api.get(f"/actor-runs/{run_id}").json()["data"]
            assert run["status"] == "FAILED" and run["finishedAt"] is not None
            assert "worker" in run["statusMessage"] and "stopped" in run["statusMessage"]
        # The API process swept: it holds the lock the dead pool held.
        assert lock_holder(redis, prefix) == api_proc.pid
        # Nothing of the pool's outlived it: its actors died with their workers.
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in actors) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in actors if alive(pid)]

        # The next run needs a worker: a new pool takes it.
        stack.start_workers(1, own_group=True)
        echo = api.post("/acts", json=callable_actor("after", "echo")).json()["data"]
        answer = api.post(f"/acts/{echo['id']}/run-sync", json={"n": 1}, timeout=60)
        assert answer.status_code == 201 and answer.json() == {"input": {"n": 1}}


def test_the_sweeper_lock_is_released_at_a_clean_stop_and_taken_over(
    pool_first: tuple[Stack, Redis], isolated_account: Account
) -> None:
    """A pool that stops (SIGTERM) hands the lock over at once, not one lock lease later."""
    stack, redis = pool_first
    pool, api_proc = stack.processes
    pool.send_signal(signal.SIGTERM)
    pool.wait(timeout=60)
    # Released by the pool, then taken by the API's next sweep: well under the lock's lease.
    taken_s = until_holder(redis, stack.settings.redis_prefix, api_proc.pid, stack.settings.sweep_lock_s)
    assert taken_s < stack.settings.sweep_lock_s - 1, taken_s


def test_a_pool_killed_alone_takes_its_workers_and_its_proxy_with_it(
    pool_first: tuple[Stack, Redis],
) -> None:
    """SIGKILL to the pool's pid only (an OOM kill, `kill -9` of the pid a process manager knows):
    its children used to work on, reparented to init, taking runs for good."""
    stack, _ = pool_first
    pool = stack.processes[0]
    stack.wait_for_workers(RUNS)
    children = {kind: pool_children(pool.pid, kind) for kind in KINDS}
    assert all(children.values()), children
    pool.kill()
    pool.wait()
    pids = [pid for kind in KINDS for pid in children[kind]]
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)], children
