"""The small world the method table calls into: one per backend and client flavour, built over plain
HTTP (the clients are what is under test, not the setup), with a spare resource for every call that
destroys or changes one beyond reuse, and a `read` for checking what a call left behind."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import httpx

from tests.actors import callable_actor

# A name: accepted when a webhook is saved, refused when it is called (no private address here).
HOOK_URL = "http://localhost:9/hook"
ITEMS = [{"n": n, "label": f"item {n}"} for n in range(5)]
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"}
# The sleeper's pricing: its runs are pay per event, so that they can be charged for `world-event`.
PAY_PER_EVENT = {
    "pricingModel": "PAY_PER_EVENT",
    "apifyMarginPercentage": 0,
    "createdAt": "2026-01-01T00:00:00.000Z",
    "startedAt": "2026-01-01T00:00:00.000Z",
    "pricingPerEvent": {
        "actorChargeEvents": {
            "world-event": {
                "eventTitle": "World event",
                "eventDescription": "a charge the table makes",
                "eventPriceUsd": 0.01,
            }
        }
    },
}


@dataclass
class World:
    """Ids (JSON for the node script) and, for Python's checks, the API and a log sink."""

    username: str
    user_id: str
    actor_id: str  # `echo`: OUTPUT = {"input": INPUT}, one item, status message "echoed"
    sleeper_id: str  # `sleep`: sleeps input.seconds; pay per event (PAY_PER_EVENT)
    spare_actor_id: str
    task_id: str  # of echo, input {"a": 1}
    spare_task_id: str
    build_id: str  # echo's finished build
    spare_build_id: str
    run_id: str  # the task's finished run
    run_dataset_id: str
    run_store_id: str
    run_queue_id: str
    spare_run_id: str  # finished, for delete
    old_run_id: str  # finished, for resurrect
    abort_run_id: str  # a running sleeper
    live_run_id: str  # a running sleeper, for charge, reboot, metamorph and the status message
    dataset_id: str  # ITEMS
    spare_dataset_id: str
    store_id: str  # records json = {"a": 1}, text = "hello", drop
    spare_store_id: str
    queue_id: str  # requests https://example.com/0..2, and drop-0..2
    queue_request_id: str  # https://example.com/0
    drop_request_id: str  # drop-0, for delete_request
    drop_unique_keys: list[str]  # drop-1, drop-2, for batch_delete_requests
    lock_queue_id: str  # two requests locked by clientKey "world"
    locked_request_ids: list[str]
    spare_queue_id: str
    webhook_id: str
    spare_webhook_id: str
    dispatch_id: str
    schedule_id: str  # disabled, "0 8 * * *", running the task
    spare_schedule_id: str
    api: httpx.Client = field(repr=False)
    logged: list[str] = field(default_factory=list, repr=False)

    def ids(self) -> dict[str, Any]:
        """What the node script sees as `w`."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("api", "logged")}

    def read(self, path: str, **params: Any) -> Any:
        """GET /v2{path}'s data (None on 404)."""
        response = self.api.get(path, params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["data"] if "json" in response.headers.get("content-type", "") else response

    def logger(self) -> logging.Logger:
        """A logger whose messages land in `logged` (for the streamed log and the status watcher)."""
        logger = logging.getLogger(f"tests.clients.world.{id(self)}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        if not logger.handlers:
            sink = self.logged

            class Sink(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    sink.append(record.getMessage())

            logger.addHandler(Sink())
        return logger

    def logged_since(self) -> Callable[[], bool]:
        """Has a message reached `logger()` since this call."""
        before = len(self.logged)
        return lambda: len(self.logged) > before

    def stop_runs(self) -> None:
        """Abort what a failing call left running, so that the workers are free for the next world."""
        for run_id in (self.abort_run_id, self.live_run_id, self.old_run_id):
            self.api.post(f"/actor-runs/{run_id}/abort")


def _data(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
    return response.json()["data"]


def _post(api: httpx.Client, path: str, body: Any = None, **params: Any) -> Any:
    return _data(api.post(path, json=body, params=params))


def _finished(api: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        got = _data(api.get(path, params={"waitForFinish": 30}))
        if got["status"] in TERMINAL:
            assert got["status"] == "SUCCEEDED", got
            return dict(got)
        assert time.monotonic() < deadline, got


def _running(api: httpx.Client, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while _data(api.get(f"/actor-runs/{run_id}"))["status"] != "RUNNING":
        assert time.monotonic() < deadline, f"run {run_id} did not start"
        time.sleep(0.05)


def build_world(api: httpx.Client, username: str, user_id: str) -> World:
    echo = _post(api, "/acts", callable_actor("echo", "echo"))["id"]
    sleeper = _post(api, "/acts", callable_actor("sleeper", "sleep") | {"pricingInfos": [PAY_PER_EVENT]})[
        "id"
    ]
    spare_actor = _post(api, "/acts", callable_actor("spare", "noop"))["id"]
    version = {"versionNumber": "0.9", "sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:echo"}
    _post(api, f"/acts/{echo}/versions", version)
    for name in ("KEEP", "DROP"):
        _post(api, f"/acts/{echo}/versions/0.0/env-vars", {"name": name, "value": name.lower()})
    task = _post(api, "/actor-tasks", {"actId": echo, "name": "world-task", "input": {"a": 1}})["id"]
    spare_task = _post(api, "/actor-tasks", {"actId": echo, "name": "spare-task"})["id"]

    builds = [_post(api, f"/acts/{echo}/builds", version="0.0")["id"] for _ in range(2)]
    for build in builds:
        _finished(api, f"/actor-builds/{build}")
    # Three finished runs (the task's, one to delete, one to resurrect), then two running sleepers.
    runs = [_post(api, f"/actor-tasks/{task}/runs")]
    runs += [_post(api, f"/acts/{echo}/runs", {"n": n}) for n in (1, 2)]
    run, spare_run, old_run = (_finished(api, f"/actor-runs/{r['id']}") for r in runs)
    sleepers = [_post(api, f"/acts/{sleeper}/runs", {"seconds": 30})["id"] for _ in range(2)]
    for run_id in sleepers:
        _running(api, run_id)

    dataset = _post(api, "/datasets", name="world-items")["id"]
    assert api.post(f"/datasets/{dataset}/items", json=ITEMS).status_code == 201
    store = _post(api, "/key-value-stores", name="world-records")["id"]
    for key, body, content_type in (
        ("json", b'{"a": 1}', "application/json"),
        ("text", b"hello", "text/plain"),
        ("drop", b"x", "text/plain"),
    ):
        response = api.put(
            f"/key-value-stores/{store}/records/{key}", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code in (200, 201), response.text

    queue = _post(api, "/request-queues", name="world-queue")["id"]
    urls = [f"https://example.com/{n}" for n in range(3)]
    drops = [f"drop-{n}" for n in range(3)]
    added = _post(
        api,
        f"/request-queues/{queue}/requests/batch",
        [{"url": u, "uniqueKey": u} for u in urls]
        + [{"url": f"https://example.com/{d}", "uniqueKey": d} for d in drops],
    )["processedRequests"]
    by_key = {r["uniqueKey"]: r["requestId"] for r in added}
    lock_queue = _post(api, "/request-queues", name="world-locks")["id"]
    for n in range(2):
        _post(
            api,
            f"/request-queues/{lock_queue}/requests",
            {"url": f"https://example.com/l{n}", "uniqueKey": f"l{n}"},
        )
    locked = _post(api, f"/request-queues/{lock_queue}/head/lock", lockSecs=300, clientKey="world", limit=2)

    hook = {"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "requestUrl": HOOK_URL, "condition": {"actorId": echo}}
    webhook = _post(api, "/webhooks", hook)["id"]
    spare_webhook = _post(api, "/webhooks", hook | {"condition": {"actorTaskId": task}})["id"]
    dispatch = _post(api, f"/webhooks/{webhook}/test")["id"]
    action = {"type": "RUN_ACTOR_TASK", "actorTaskId": task}
    schedule = _post(
        api, "/schedules", {"cronExpression": "0 8 * * *", "isEnabled": False, "actions": [action]}
    )

    return World(
        username=username,
        user_id=user_id,
        actor_id=echo,
        sleeper_id=sleeper,
        spare_actor_id=spare_actor,
        task_id=task,
        spare_task_id=spare_task,
        build_id=builds[0],
        spare_build_id=builds[1],
        run_id=run["id"],
        run_dataset_id=run["defaultDatasetId"],
        run_store_id=run["defaultKeyValueStoreId"],
        run_queue_id=run["defaultRequestQueueId"],
        spare_run_id=spare_run["id"],
        old_run_id=old_run["id"],
        abort_run_id=sleepers[0],
        live_run_id=sleepers[1],
        dataset_id=dataset,
        spare_dataset_id=_post(api, "/datasets", name="spare-items")["id"],
        store_id=store,
        spare_store_id=_post(api, "/key-value-stores", name="spare-records")["id"],
        queue_id=queue,
        queue_request_id=by_key[urls[0]],
        drop_request_id=by_key[drops[0]],
        drop_unique_keys=drops[1:],
        lock_queue_id=lock_queue,
        locked_request_ids=[r["id"] for r in locked["items"]],
        spare_queue_id=_post(api, "/request-queues", name="spare-queue")["id"],
        webhook_id=webhook,
        spare_webhook_id=spare_webhook,
        dispatch_id=dispatch,
        schedule_id=schedule["id"],
        spare_schedule_id=_post(api, "/schedules", {"cronExpression": "@daily", "isEnabled": False})["id"],
        api=api,
    )
