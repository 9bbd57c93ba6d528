"""A webhook call survives what can go wrong between the event and the receiver: a worker SIGKILLed
in the middle of the call, a dispatch committed whose job never reached Redis; and a run whose
worker died still tells its webhooks it FAILED."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.ids import utcnow
from server.storage.webhooks import INSERT_DISPATCH
from server.webhooks.events import dispatch_row
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack
from tests.webhooks.webhooks_support import dispatch_when_done, receiving
from worker.forked import pool_children
from worker.webhooks.delivery import LOST_CALL


@pytest.fixture(scope="module")
def db(hooks_settings: Settings) -> Iterator[SyncDatabase]:
    """This module's database: its own Greenroom's."""
    database = SyncDatabase(create_sync_engine(hooks_settings.sql_url))
    yield database
    database.engine.dispose()


def _webhook_workers(stack: Stack) -> list[int]:
    """The pool's webhook worker processes."""
    pool = stack.processes[0]
    assert "worker" in pool.args  # type: ignore[operator]
    return pool_children(pool.pid, "webhooks")


def test_a_webhook_worker_killed_mid_call_does_not_lose_the_call(
    hooks_stack: Stack, hooks_api: httpx.Client
) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("doomed-call", "noop")).json()["data"]
    with receiving(hold=True) as receiver:
        hook = {"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": actor["id"]}}
        assert hooks_api.post("/webhooks", json=hook | {"requestUrl": receiver.url}).status_code == 201
        run = hooks_api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
        assert run["status"] == "SUCCEEDED"
        assert receiver.held.wait(30), "the first call never came"
        (worker,) = _webhook_workers(hooks_stack)
        os.kill(worker, signal.SIGKILL)  # while the receiver holds the call
        killed = time.monotonic()
        receiver.release.set()
        first, second = receiver.wait_for(2, timeout_s=30)
        again_after_s = second.at - killed
    assert first.dispatch_id == second.dispatch_id and first.body == second.body
    dispatch = dispatch_when_done(hooks_api, second.dispatch_id)
    assert dispatch["status"] == "SUCCEEDED"
    lost, made = dispatch["calls"]
    assert lost["errorMessage"] == LOST_CALL and lost["responseStatus"] is None
    assert made["responseStatus"] == 200 and made["errorMessage"] is None
    # The dead worker's lease (2 x 2 s + 5 s) runs out, then the next sweep queues the call again.
    assert again_after_s < 9 + 5, again_after_s
    assert _webhook_workers(hooks_stack) != [worker]  # the pool started another one


def test_a_dispatch_whose_job_never_reached_redis_is_delivered_by_the_sweeper(
    hooks_api: httpx.Client, db: SyncDatabase, hooks_account: Account
) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("lost-job", "noop")).json()["data"]
    with receiving() as receiver:
        hook = {"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": actor["id"]}}
        webhook = hooks_api.post("/webhooks", json=hook | {"requestUrl": receiver.url}).json()["data"]
        # Committed, as by a process that died before it could enqueue the job.
        row = dispatch_row(
            webhook["id"],
            hooks_account.user_id,
            "ACTOR.RUN.SUCCEEDED",
            {"actorId": actor["id"]},
            {},
            utcnow(),
        )
        with db.begin() as connection:
            connection.execute(INSERT_DISPATCH, row)
        (call,) = receiver.wait_for(1, timeout_s=15)
    assert call.dispatch_id == row["id"]
    assert call.json()["eventData"] == {"actorId": actor["id"]}
    assert dispatch_when_done(hooks_api, row["id"])["status"] == "SUCCEEDED"


def test_a_run_failed_by_the_sweeper_fires_its_failed_event(hooks_api: httpx.Client) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("orphaned", "pids_then_sleep")).json()["data"]
    with receiving() as receiver:
        hook = {"eventTypes": ["ACTOR.RUN.FAILED"], "condition": {"actorId": actor["id"]}}
        assert hooks_api.post("/webhooks", json=hook | {"requestUrl": receiver.url}).status_code == 201
        run = hooks_api.post(f"/acts/{actor['id']}/runs", json={"seconds": 60}).json()["data"]
        store = run["defaultKeyValueStoreId"]
        deadline = time.monotonic() + 30
        while (pids := hooks_api.get(f"/key-value-stores/{store}/records/PIDS")).status_code != 200:
            assert time.monotonic() < deadline, "the actor never started"
            time.sleep(0.05)
        os.kill(pids.json()["worker"], signal.SIGKILL)
        (call,) = receiver.wait_for(1, timeout_s=30)
        time.sleep(0.5)
        assert len(receiver.requests) == 1
    body = call.json()
    assert body["eventType"] == "ACTOR.RUN.FAILED" and body["eventData"]["actorRunId"] == run["id"]
    assert body["resource"]["status"] == "FAILED" and "worker" in body["resource"]["statusMessage"]
    assert body["resource"] == hooks_api.get(f"/actor-runs/{run['id']}").json()["data"]
