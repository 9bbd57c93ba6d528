"""One populated account per backend for the contract tests: an actor, a task, a finished run,
a key-value store with a record and a dataset with items, all made through the API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select

from server.storage.db import SyncDatabase
from server.storage.models import Build, Run, WebhookDispatch
from server.users import create_user
from tests.actors import callable_actor, files_actor
from tests.stack import Stack

RECORD_KEY = "contract-record"
# A stdlib-only process actor that needs no input: OUTPUT {"ok": true} and one dataset item.
OUTPUT_MAIN = """\
import json, os, urllib.request as u
base, token = os.environ["APIFY_API_BASE_URL"], os.environ["APIFY_TOKEN"]
store, dataset = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"], os.environ["ACTOR_DEFAULT_DATASET_ID"]
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
for url, body, method in (
    (f"{base}/v2/key-value-stores/{store}/records/OUTPUT", {"ok": True}, "PUT"),
    (f"{base}/v2/datasets/{dataset}/items", [{"ok": True}], "POST"),
):
    u.urlopen(u.Request(url, data=json.dumps(body).encode(), method=method, headers=h)).close()
"""
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"}


@dataclass
class World:
    user_id: str
    username: str
    token: str
    client: httpx.Client
    db: SyncDatabase
    ids: dict[str, str] = field(default_factory=dict)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def finished_run(self, task_id: str | None = None) -> dict:
        """A new run of the echo task, waited for until it is SUCCEEDED."""
        task = task_id or self.ids["actorTaskId"]
        r = self.client.post(f"/v2/actor-tasks/{task}/runs", params={"waitForFinish": 30}, json={"n": 1})
        assert r.status_code == 201, r.text
        run = r.json()["data"]
        assert run["status"] == "SUCCEEDED", run
        return dict(run)

    def wait_idle(self, timeout_s: float = 30) -> None:
        """Wait until none of this user's runs, builds or webhook dispatches is still going (they write
        rows while they go)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (
                self.unfinished_runs() == 0
                and self.unfinished_builds() == 0
                and self.active_dispatches() == 0
            ):
                return
            time.sleep(0.05)
        raise AssertionError("runs did not finish")

    def unfinished_builds(self) -> int:
        with self.db.transaction() as session:
            stmt = select(func.count()).where(Build.user_id == self.user_id, Build.status.not_in(TERMINAL))
            return int(session.execute(stmt).scalar_one())

    def active_dispatches(self) -> int:
        """Webhook dispatches still to be called (a worker writes their calls when it makes them)."""
        with self.db.transaction() as session:
            stmt = select(func.count()).where(
                WebhookDispatch.user_id == self.user_id, WebhookDispatch.status == "ACTIVE"
            )
            return int(session.execute(stmt).scalar_one())

    def unfinished_runs(self) -> int:
        with self.db.transaction() as session:
            stmt = select(func.count()).where(Run.user_id == self.user_id, Run.status.not_in(TERMINAL))
            return int(session.execute(stmt).scalar_one())


def contract_webhook(w: World) -> dict:
    return {
        "eventTypes": ["ACTOR.RUN.SUCCEEDED"],
        "condition": {"actorId": w.ids["actorId"]},
        "requestUrl": "http://localhost:9/contract-hook",
    }


def contract_schedule(w: World) -> dict:
    """Disabled: the contract tests' schedules never fire."""
    action = {"type": "RUN_ACTOR_TASK", "actorTaskId": w.ids["actorTaskId"]}
    return {"cronExpression": "0 8 * * *", "isEnabled": False, "actions": [action]}


def build_world(stack: Stack, db: SyncDatabase) -> World:
    """A new user with one of everything, made through the API (the caller closes world.client)."""
    user, token = create_user(db, f"c{uuid.uuid4().hex[:12]}")
    client = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    w = World(user.id, user.username, token, client, db, ids={"userId": user.id})
    # The actor endpoints see a SOURCE_FILES actor (Apify's kind); the task runs the fast echo callable.
    actor = client.post(
        "/v2/acts",
        json=files_actor(
            "contract-files", {"main.py": OUTPUT_MAIN}, envVars=[{"name": "CONTRACT_VAR", "value": "x"}]
        ),
    )
    assert actor.status_code == 201, actor.text
    echo = client.post("/v2/acts", json=callable_actor("contract-echo", "echo"))
    assert echo.status_code == 201, echo.text
    sleeper = client.post("/v2/acts", json=callable_actor("contract-sleep", "sleep"))
    assert sleeper.status_code == 201, sleeper.text
    actor_id = actor.json()["data"]["id"]
    task = client.post(
        "/v2/actor-tasks",
        json={"actId": echo.json()["data"]["id"], "name": "contract-task", "input": {"a": 1}},
    )
    assert task.status_code == 201, task.text
    w.ids |= {
        "actorId": actor_id,
        "echoId": echo.json()["data"]["id"],
        "sleeperId": sleeper.json()["data"]["id"],
        "actorTaskId": task.json()["data"]["id"],
    }
    # The actor's own run (for .../runs/last) goes on while the task's run is waited for.
    own = client.post(f"/v2/acts/{actor_id}/runs", json={"x": 1})
    assert own.status_code == 201, own.text
    run = w.finished_run()
    own = client.get(f"/v2/actor-runs/{own.json()['data']['id']}", params={"waitForFinish": 30})
    assert own.json()["data"]["status"] == "SUCCEEDED", own.text
    store = client.post("/v2/key-value-stores", params={"name": "contract-store"})
    assert store.status_code == 201, store.text
    store_id = store.json()["data"]["id"]
    record = client.put(f"/v2/key-value-stores/{store_id}/records/{RECORD_KEY}", json={"v": 1})
    assert record.status_code == 201, record.text
    queue = client.post("/v2/request-queues", params={"name": "contract-queue"})
    assert queue.status_code == 201, queue.text
    queue_id = queue.json()["data"]["id"]
    added = client.post(f"/v2/request-queues/{queue_id}/requests", json={"url": "https://example.com/c"})
    assert added.status_code == 201, added.text
    dataset_id = run["defaultDatasetId"]
    pushed = client.post(f"/v2/datasets/{dataset_id}/items", json=[{"i": 1}, {"i": 2}])
    assert pushed.status_code == 201, pushed.text
    w.ids |= {
        "runId": run["id"],
        "logId": run["id"],
        "buildOrRunId": run["id"],
        "buildId": own.json()["data"]["buildId"],  # the SOURCE_FILES actor's: a build Apify knows
        "storeId": store_id,
        "recordKey": RECORD_KEY,
        "datasetId": dataset_id,
        "queueId": queue_id,
        "requestId": added.json()["data"]["requestId"],
        "versionNumber": "0.0",
        "envVarName": "CONTRACT_VAR",
    }
    # A webhook and a dispatch (its calls go to a name the session's Greenroom refuses to call).
    hook = client.post("/v2/webhooks", json=contract_webhook(w))
    assert hook.status_code == 201, hook.text
    dispatch = client.post(f"/v2/webhooks/{hook.json()['data']['id']}/test")
    assert dispatch.status_code == 201, dispatch.text
    w.ids |= {"webhookId": hook.json()["data"]["id"], "dispatchId": dispatch.json()["data"]["id"]}
    schedule = client.post("/v2/schedules", json=contract_schedule(w))
    assert schedule.status_code == 201, schedule.text
    w.ids["scheduleId"] = schedule.json()["data"]["id"]
    w.wait_idle()  # the dispatch's (refused) call is written by a worker: done before any snapshot
    return w


@pytest.fixture(scope="module")
def world(stack: Stack, db: SyncDatabase) -> Iterator[World]:
    """Shared by a module's tests on one backend: requests that destroy things use fresh_world."""
    w = build_world(stack, db)
    try:
        yield w
        w.wait_idle()
    finally:
        w.client.close()


class SpareWorlds:
    """Worlds for requests that may destroy things. One is handed to the next test as long as every
    request made in it was rejected: a rejected request changes no row (the fuzz test asserts it)."""

    def __init__(self, stack: Stack, db: SyncDatabase) -> None:
        self._stack, self._db = stack, db
        self._spare: World | None = None

    def take(self) -> World:
        world, self._spare = self._spare, None
        return world or build_world(self._stack, self._db)

    def give_back(self, world: World, *, untouched: bool) -> None:
        world.wait_idle()
        if untouched and self._spare is None:
            self._spare = world
        else:
            world.client.close()

    def close(self) -> None:
        if self._spare is not None:
            self._spare.client.close()


@pytest.fixture(scope="module")
def spare_worlds(stack: Stack, db: SyncDatabase) -> Iterator[SpareWorlds]:
    worlds = SpareWorlds(stack, db)
    try:
        yield worlds
    finally:
        worlds.close()


@pytest.fixture
def fresh_world(stack: Stack, db: SyncDatabase) -> Iterator[World]:
    w = build_world(stack, db)
    try:
        yield w
        w.wait_idle()
    finally:
        w.client.close()
