"""Fair share between users and per-user limits (issue 14, part 1), on real workers.

Each test has a Greenroom of its own (its own database, Redis prefix and workers): counting runs
and holding workers busy must not meet the session's other tests. The last reads what a run's end
wakes in the session's database, for a user of its own, with no job and no worker involved.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis import Redis
from rq.job import JobStatus
from sqlalchemy import func, insert, select, update

from server.queue import enqueue_run_sync, make_queue, not_queued
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.ids import new_id, utcnow
from server.storage.limits import wake_ids_at_end
from server.storage.models import Base, Run
from server.sweeper.sweep import Taken, sweep
from server.users import create_user
from tests.actors import callable_actor
from tests.conftest import Account, new_account
from tests.runs_db import insert_run
from tests.stack import Stack, running
from tests.test_cli_commands import greenroom
from worker import context as worker_context


@pytest.fixture
def own_db(isolated_settings: Settings) -> Iterator[SyncDatabase]:
    database = SyncDatabase(create_sync_engine(isolated_settings.sql_url))
    yield database
    database.engine.dispose()


def _statuses(db: SyncDatabase, user_id: str) -> dict[str, int]:
    stmt = select(Run.status, func.count()).where(Run.user_id == user_id).group_by(Run.status)
    with db.transaction() as session:
        return {status: count for status, count in session.execute(stmt).all()}


def _left_ready(db: SyncDatabase, user_id: str) -> int:
    counts = _statuses(db, user_id)
    return sum(counts.values()) - counts.get("READY", 0)


def _start(api: httpx.Client, actor_id: str, **params: Any) -> dict[str, Any]:
    response = api.post(f"/acts/{actor_id}/runs", params=params, json={"seconds": params.pop("seconds", 0)})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def _wait_all_finished(db: SyncDatabase, user_id: str, total: int, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = _statuses(db, user_id)
        if counts.get("SUCCEEDED", 0) == total:
            return counts
        time.sleep(0.1)
    raise AssertionError(f"not all {total} runs succeeded: {_statuses(db, user_id)}")


def test_another_users_run_starts_next_while_one_user_floods(
    isolated_settings: Settings, own_db: SyncDatabase
) -> None:
    """bob's backlog of READY runs (and their jobs ahead in RQ) does not hold alice's run back: it
    starts at the next free worker slot. Under the FIFO queue of before, bob's whole backlog went first."""
    bob, alice = new_account(isolated_settings), new_account(isolated_settings)
    with (
        running(isolated_settings, workers=2) as stack,
        stack.client(bob.token) as bob_api,
        stack.client(alice.token) as alice_api,
    ):
        bob_actor = bob_api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        alice_actor = alice_api.post("/acts", json=callable_actor("quick", "noop")).json()["data"]

        def flood(_: int) -> None:
            bob_api.post(f"/acts/{bob_actor['id']}/runs", json={"seconds": 1}).raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(flood, range(30)))
        deadline = time.monotonic() + 30
        while _statuses(own_db, bob.user_id).get("RUNNING", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = _left_ready(own_db, bob.user_id)
        run = alice_api.post(f"/acts/{alice_actor['id']}/runs").json()["data"]
        while time.monotonic() < deadline:
            status = alice_api.get(f"/actor-runs/{run['id']}").json()["data"]["status"]
            if status != "READY":
                break
            time.sleep(0.01)
        bob_started_meanwhile = _left_ready(own_db, bob.user_id) - before
        backlog = _statuses(own_db, bob.user_id).get("READY", 0)
        assert backlog >= 10, f"bob's backlog was only {backlog} runs: the test proves nothing"
        # Under the FIFO of before, all of bob's backlog (10 or more) went first. Now alice's run is
        # the next one claimed once it is committed; until then, each of bob's 1 s runs that ends
        # lets its worker take another of his (CI once saw 4 while alice's start was being made).
        assert bob_started_meanwhile <= 6, f"{bob_started_meanwhile} of bob's runs started first"
        finished = alice_api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
        assert finished["status"] == "SUCCEEDED"
        # bob's backlog aborted while READY: it never starts, and the workers are free again.
        listed = bob_api.get("/actor-runs", params={"status": "READY", "limit": 100}).json()["data"]["items"]
        for ready in listed:
            bob_api.post(f"/actor-runs/{ready['id']}/abort").raise_for_status()
        # (A worker may take one of them between the list and its abort: it ends ABORTED too, or
        # SUCCEEDED if it ended before the abort came.)
        ended = {"ABORTED", "SUCCEEDED"}
        _wait_until(lambda: set(_statuses(own_db, bob.user_id)) <= ended, 60)
        assert _statuses(own_db, bob.user_id).get("ABORTED", 0) >= len(listed) - 2


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_ending_wakes_no_run_whose_job_still_waits(
    isolated_settings: Settings, own_db: SyncDatabase
) -> None:
    """bob's READY runs each have their job waiting: a run of his that ends adds no job for them. Before,
    every end enqueued his oldest READY runs again (up to his free slots), and the workers spent their
    time on wake-ups that found nothing to claim: the queue held several times more jobs than READY runs.
    """
    bob = new_account(isolated_settings)
    with running(isolated_settings, workers=2) as stack, stack.client(bob.token) as api:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        for _ in range(12):
            api.post(f"/acts/{actor['id']}/runs", json={"seconds": 0.3}).raise_for_status()
        queue = make_queue(Redis.from_url(isolated_settings.redis_url), isolated_settings.queue_name)
        most_surplus = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = _statuses(own_db, bob.user_id).get("READY", 0)
            most_surplus = max(most_surplus, queue.count - ready)
            if _statuses(own_db, bob.user_id) == {"SUCCEEDED": 12}:
                break
            time.sleep(0.02)
        assert _statuses(own_db, bob.user_id) == {"SUCCEEDED": 12}
        # A job taken between the two reads may count once; the duplicates counted up to 10 per end.
        assert most_surplus <= 1, f"{most_surplus} more jobs waited than READY runs"


def test_a_users_concurrent_runs_limit_holds_back_runs_which_start_later(
    isolated_settings: Settings, own_db: SyncDatabase
) -> None:
    """bob may run one at a time (set with `greenroom users limits`): with two workers free, his
    other runs wait in READY, and each starts when the one before ends."""
    bob = new_account(isolated_settings)
    done = greenroom(
        "users", "limits", bob.username, "--max-concurrent-runs", "1", settings=isolated_settings
    )
    assert done.returncode == 0, done.stderr
    assert "max_concurrent_runs          1" in done.stdout
    with running(isolated_settings, workers=2) as stack, stack.client(bob.token) as api:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        for _ in range(4):
            api.post(f"/acts/{actor['id']}/runs", json={"seconds": 0.4}).raise_for_status()
        most_running = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = _statuses(own_db, bob.user_id)
            most_running = max(most_running, counts.get("RUNNING", 0))
            if counts.get("SUCCEEDED", 0) == 4:
                break
            time.sleep(0.02)
        assert _statuses(own_db, bob.user_id) == {"SUCCEEDED": 4}
        assert most_running == 1
        limits = api.get("/users/me/limits").json()["data"]
        assert limits["limits"]["maxConcurrentActorJobs"] == 1
        assert limits["current"]["activeActorJobCount"] == 0


def test_the_running_memory_limit_holds_back_runs_too(
    isolated_settings: Settings, own_db: SyncDatabase
) -> None:
    """bob's running runs may have 1024 MB together: his 1024 MB runs go one at a time; a run asking
    for more than that could never start, and is refused."""
    bob = new_account(isolated_settings)
    done = greenroom(
        "users", "limits", bob.username, "--max-running-memory-mbytes", "1024", settings=isolated_settings
    )
    assert done.returncode == 0, done.stderr
    with running(isolated_settings, workers=2) as stack, stack.client(bob.token) as api:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        never = api.post(f"/acts/{actor['id']}/runs", params={"memory": 2048})
        assert never.status_code == 402
        assert never.json()["error"]["type"] == "actor-memory-limit-exceeded"
        assert "GREENROOM_MAX_RUNNING_MEMORY_MBYTES" in never.json()["error"]["message"]
        for _ in range(3):
            api.post(
                f"/acts/{actor['id']}/runs", params={"memory": 1024}, json={"seconds": 0.4}
            ).raise_for_status()
        most_running = 0
        deadline = time.monotonic() + 60
        while _statuses(own_db, bob.user_id).get("SUCCEEDED", 0) < 3 and time.monotonic() < deadline:
            most_running = max(most_running, _statuses(own_db, bob.user_id).get("RUNNING", 0))
            time.sleep(0.02)
        assert _statuses(own_db, bob.user_id) == {"SUCCEEDED": 3}
        assert most_running == 1
        bad = api.put("/users/me/limits", json={"maxConcurrentActorJobs": 2.5})
        assert bad.status_code == 403  # not an admin: refused before the body is read


def test_a_run_held_back_by_a_limit_is_not_a_lost_one_for_the_sweeper(
    settings: Settings, isolated_settings: Settings, own_db: SyncDatabase
) -> None:
    """The sweeper re-enqueues a READY run whose job was lost, but not one that waits for its user's
    limit (it has no job on purpose): that one gets its job when a run of its user ends."""
    own = replace(isolated_settings, orphan_after_s=1.0)
    bob, alice = new_account(own), new_account(own)
    greenroom("users", "limits", bob.username, "--max-concurrent-runs", "1", settings=own)
    with running(own, workers=0) as stack:
        with stack.client(bob.token) as bob_api, stack.client(alice.token) as alice_api:
            bob_actor = bob_api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
            alice_actor = alice_api.post("/acts", json=callable_actor("quick", "noop")).json()["data"]
            bob_runs = [_start(bob_api, bob_actor["id"])["id"] for _ in range(3)]
            alice_run = _start(alice_api, alice_actor["id"])["id"]
        old = utcnow() - timedelta(seconds=5)
        with own_db.transaction() as session:
            session.execute(update(Run).values(started_at=old))
            # bob's first run goes (a worker holds it): his other two wait for his limit.
            session.execute(
                update(Run)
                .where(Run.id == bob_runs[0])
                .values(status="RUNNING", lease_owner="w", lease_expires_at=utcnow() + timedelta(hours=1))
            )
        redis = Redis.from_url(own.redis_url)
        queue = make_queue(redis, own.queue_name)
        queue.empty()  # every job lost (Redis lost its data)
        worker_context.dispose_context()
        worker_context.configure(own)  # this process sweeps, as a worker pool would
        try:
            swept = sweep(worker_context.get_context(), queue, judge_leases=False, taken=Taken())
            assert swept.requeued == [alice_run]
            assert queue.job_ids == [alice_run]
            with own_db.transaction() as session:
                session.execute(update(Run).where(Run.id == bob_runs[0]).values(status="SUCCEEDED"))
            queue.empty()
            swept = sweep(worker_context.get_context(), queue, judge_leases=False, taken=Taken())
            # bob's slot is free: his two runs fit again, and alice's still has no job.
            assert sorted(swept.requeued) == sorted([*bob_runs[1:], alice_run])
        finally:
            worker_context.dispose_context()
            worker_context.configure(settings)
            redis.close()


def test_starts_beyond_a_users_limits_are_refused_with_apifys_402s(
    isolated_settings: Settings, isolated_account: Account
) -> None:
    name = isolated_account.username
    done = greenroom(
        "users", "limits", name, "--max-ready-runs", "2", "--max-run-memory-mbytes", "1024",
        settings=isolated_settings,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with running(isolated_settings, workers=0) as stack, stack.client(isolated_account.token) as api:
        actor = api.post("/acts", json=callable_actor("quick", "noop")).json()["data"]
        too_big = api.post(f"/acts/{actor['id']}/runs", params={"memory": 2048})
        assert too_big.status_code == 402
        assert too_big.json()["error"]["type"] == "actor-memory-limit-exceeded"
        assert "GREENROOM_MAX_RUN_MEMORY_MBYTES" in too_big.json()["error"]["message"]
        for _ in range(2):
            assert api.post(f"/acts/{actor['id']}/runs").status_code == 201
        full = api.post(f"/acts/{actor['id']}/runs")
        assert full.status_code == 402
        error = full.json()["error"]
        assert error["type"] == "concurrent-runs-limit-exceeded"
        assert "GREENROOM_MAX_READY_RUNS" in error["message"]
        assert api.post(f"/acts/{actor['id']}/run-sync").status_code == 402
        limits = api.get("/users/me/limits").json()["data"]
        assert limits["current"]["readyActorJobCount"] == 2
        assert limits["limits"]["maxReadyActorJobs"] == 2
        assert limits["limits"]["maxRunMemoryMbytes"] == 1024
        # `default` puts a limit back to the setting's.
        greenroom("users", "limits", name, "--max-ready-runs", "default", settings=isolated_settings)
        assert api.post(f"/acts/{actor['id']}/runs").status_code == 201


def test_only_admins_change_limits_and_a_raise_starts_held_runs(
    isolated_settings: Settings, own_db: SyncDatabase
) -> None:
    settings = replace(isolated_settings, admin_usernames=("boss",))
    from server.users import create_user

    _user, admin_token = create_user(own_db, "boss")
    bob = new_account(settings)
    with running(settings, workers=2) as stack, stack.client(bob.token) as api:
        limits = api.get("/users/me/limits").json()["data"]
        assert limits["limits"]["maxConcurrentActorJobs"] == settings.max_concurrent_runs
        refused = api.put("/users/me/limits", json={"maxConcurrentActorJobs": 100})
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "insufficient-permissions"
        assert api.get("/users/me/limits", params={"user": "boss"}).status_code == 403
        with stack.client(admin_token) as admin:
            put = admin.put(
                "/users/me/limits", params={"user": bob.username}, json={"maxConcurrentActorJobs": 0}
            )
            assert put.status_code == 201, put.text
            assert put.json()["data"]["limits"]["maxConcurrentActorJobs"] == 0
            actor = api.post("/acts", json=callable_actor("quick", "noop")).json()["data"]
            run = _start(api, actor["id"])
            time.sleep(1.0)
            assert api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] == "READY"  # held back
            bad = admin.put("/users/me/limits", params={"user": bob.user_id}, json={"maxMonthlyUsageUsd": 5})
            assert bad.status_code == 400
            half = admin.put(
                "/users/me/limits", params={"user": bob.user_id}, json={"maxConcurrentActorJobs": 2.5}
            )
            assert half.status_code == 400
            assert "whole number" in half.json()["error"]["message"]
            gigabytes = {"maxActorMemoryGbytes": 0.5}
            put = admin.put("/users/me/limits", params={"user": bob.user_id}, json=gigabytes)
            assert put.json()["data"]["limits"]["maxActorMemoryGbytes"] == 0.5
            admin.put("/users/me/limits", params={"user": bob.user_id}, json={"maxActorMemoryGbytes": None})
            admin.put("/users/me/limits", params={"user": bob.user_id}, json={"maxConcurrentActorJobs": None})
            finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
            assert finished["status"] == "SUCCEEDED"
            seen = admin.get("/users/me/limits", params={"user": bob.user_id}).json()["data"]
            assert seen["limits"]["maxConcurrentActorJobs"] == settings.max_concurrent_runs


def test_not_queued_names_the_runs_whose_job_is_not_waiting(isolated_settings: Settings) -> None:
    connection = Redis.from_url(isolated_settings.redis_url)
    queue = make_queue(connection, f"{isolated_settings.queue_name}-not-queued")
    waiting, taken, never = new_id(), new_id(), new_id()
    try:
        for run_id in (waiting, taken):
            enqueue_run_sync(queue, run_id)
        job = queue.fetch_job(taken)
        assert job is not None
        job.set_status(JobStatus.STARTED)
        assert not_queued(connection, [waiting, taken, never]) == [taken, never]
        assert not_queued(connection, [waiting]) == []
        assert not_queued(connection, []) == []
    finally:
        queue.delete(delete_jobs=True)
        connection.close()


def test_a_runs_end_looks_for_runs_to_wake_only_with_its_user_at_a_limit(
    db: SyncDatabase, stack: Stack
) -> None:
    """A run of 1024 MB just ended, one of its user's runs still RUNNING and three READY: their
    oldest are woken (as many as slots are free) when the user was at the concurrent-runs limit
    before the end, or short of memory for a READY run; else none are looked for."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the look is skipped on SQLite only")
    user, token = create_user(db, f"w{uuid.uuid4().hex[:12]}")
    with stack.client(token) as api:
        actor = api.post("/acts", json=callable_actor(f"wk-{uuid.uuid4().hex[:6]}", "noop")).json()["data"]
    insert_run(db, actor["id"], RunStatus.RUNNING)
    ready = [insert_run(db, actor["id"], RunStatus.READY) for _ in range(3)]
    limits = Base.metadata.tables["user_limits"]

    def woken(**overrides: int) -> list[str]:
        with db.begin() as connection:
            connection.execute(limits.delete().where(limits.c.user_id == user.id))
            connection.execute(insert(limits).values(user_id=user.id, **overrides))
        with db.begin() as connection:
            return wake_ids_at_end(connection, Settings(), user.id, 1024)

    try:
        assert woken() == []  # 2 of 25 runs before the end; 2048 MB of 32768, a READY run 1024
        assert woken(max_concurrent_runs=2) == ready[:1]  # at 2 of 2: one slot is free now
        assert woken(max_running_memory_mbytes=3072) == []  # 2048 MB, and room for 1024 more
        assert woken(max_running_memory_mbytes=3071) == ready  # no room: the READY runs, oldest first
    finally:
        runs = Base.metadata.tables["runs"]
        with db.begin() as connection:  # no sweeper is to find them READY and without a job
            connection.execute(update(runs).where(runs.c.user_id == user.id).values(status="SUCCEEDED"))
