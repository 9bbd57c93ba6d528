"""An actor written with the Apify SDK for JavaScript (tests/sdk_actors/js), unchanged, on a real Greenroom.

It is laid out as `apify create` makes it: package.json ("type": "module", a start script, `apify`
pinned, with its package-lock.json) and src/main.js. Its build runs `npm install`; the Dockerfile's
CMD (`npm start --silent`) starts it, as on Apify. Node is optional: without node and npm it skips.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import httpx
import pytest
from apify_client import ApifyClient

from tests.conftest import Account
from tests.sdk_support import (
    SDK_ACTORS,
    actor_body,
    build_once,
    check_the_sdk_proxy,
    run_log,
    run_when_done,
    start_run,
    wait_for_record,
)
from tests.stack import Stack

ACTOR_DIR = SDK_ACTORS / "js"

pytestmark = [
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="node and npm are not on PATH: the JS SDK actor check is optional and skipped",
    ),
    # The first test of a backend waits for the build (npm install of the SDK: seconds to a minute).
    pytest.mark.timeout(300),
]


def sdk_actor_body(name: str = "sdk-js") -> dict[str, Any]:
    return actor_body(ACTOR_DIR, name)


@pytest.fixture(scope="session")
def sdk_js_build(stack: Stack, sdk_owner: Account) -> dict[str, Any]:
    """The JS SDK actor built once per backend: later actors with the same files reuse its node_modules."""
    build, log = build_once(stack, sdk_owner, sdk_actor_body(), limit_s=240)
    assert build["status"] == "SUCCEEDED", log
    # npm install ran here, or for an earlier build of the same files this session (test_push's).
    assert "npm install" in log or "its result" in log, log
    return build


@pytest.fixture
def account(sdk_owner: Account) -> Account:
    """The tests' user here is the SDK actors' owner (tests/conftest.py): their runs reuse one build."""
    return sdk_owner


@pytest.fixture
def sdk_actor(api: httpx.Client, sdk_js_build: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/acts", json=sdk_actor_body())
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def test_run_sync_returns_the_js_sdk_actors_output(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    task = api.post(
        "/actor-tasks", json={"actId": sdk_actor["id"], "name": "sdk-js", "input": {"name": "task"}}
    )
    assert task.status_code == 201, task.text
    response = api.post("/actor-tasks/~sdk-js/run-sync", json={"name": "sync"})
    run = api.get("/actor-tasks/~sdk-js/runs/last").json()["data"]
    assert response.status_code == 201, run_log(api, run["id"])
    assert response.json() == {"hello": "sync", "input": {"name": "sync"}}
    assert run["status"] == "SUCCEEDED" and run["exitCode"] == 0, run_log(api, run["id"])
    assert run["statusMessage"] == "Echoed the input"
    items = api.get(f"/datasets/{run['defaultDatasetId']}/items").json()
    assert items == [{"n": 1, "name": "sync"}, {"n": 2}]


def test_the_js_sdk_actor_through_apify_clients_task_call(
    stack: Stack, account: Account, sdk_js_build: dict[str, Any]
) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    body = sdk_actor_body("sdk-js-client")
    actor = client.actors().create(name=body["name"], versions=body["versions"])
    task = client.tasks().create(actor_id=actor.id, name="sdk-js-client-task", task_input={"name": "saved"})
    run = client.task(task.id).call(task_input={"extra": 1})
    assert run is not None
    assert run.status == "SUCCEEDED", client.run(run.id).log().get()
    output = client.key_value_store(run.default_key_value_store_id).get_record("OUTPUT")
    assert output is not None
    assert output["value"] == {"hello": "saved", "input": {"name": "saved", "extra": 1}}
    assert client.dataset(run.default_dataset_id).list_items().items == [{"n": 1, "name": "saved"}, {"n": 2}]
    again = client.run(run.id).get()
    assert again is not None and again.status_message == "Echoed the input"


def test_the_js_sdk_hears_system_info(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "events"}))
    assert run["status"] == "SUCCEEDED", run_log(api, run["id"])
    info = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    # What the websocket sent, as the SDK handed it to its listener: node's memory as Greenroom
    # measured it, under the run's limit.
    assert 10_000_000 < info["memCurrentBytes"] < run["options"]["memoryMbytes"] * 1024 * 1024
    assert info["memMaxBytes"] == run["options"]["memoryMbytes"] * 1024 * 1024
    assert info["cpuCurrentUsage"] >= 0 and info["isCpuOverloaded"] in (True, False)


def test_a_graceful_abort_lets_the_js_sdk_actor_exit_cleanly(
    api: httpx.Client, sdk_actor: dict[str, Any]
) -> None:
    run_id = start_run(api, sdk_actor, {"mode": "wait", "seconds": 60})
    store = api.get(f"/actor-runs/{run_id}").json()["data"]["defaultKeyValueStoreId"]
    wait_for_record(api, store, "WAITING", run_id)
    started = time.monotonic()
    assert api.post(f"/actor-runs/{run_id}/abort", params={"gracefully": "true"}).status_code == 200
    run = run_when_done(api, run_id)
    log = run_log(api, run_id)
    assert run["status"] == "ABORTED", log
    # The SDK heard `aborting` on its events websocket, ran its listeners, and Actor.init's graceful
    # shutdown called Actor.exit(): exit code 0 well within the grace period (30 s), never a signal.
    assert run["exitCode"] == 0, log
    assert time.monotonic() - started < 15
    assert "Heard aborting; ending cleanly" in log
    heard = api.get(f"/key-value-stores/{store}/records/ABORTING").json()
    assert heard["heard"] is True and False in heard["persistState"], heard
    assert api.get(f"/key-value-stores/{store}/records/OUTPUT").status_code == 404


def test_a_failing_js_sdk_actor_ends_failed_with_its_exit_code(
    api: httpx.Client, sdk_actor: dict[str, Any]
) -> None:
    failed = start_run(api, sdk_actor, {"mode": "fail"})
    exited = start_run(api, sdk_actor, {"mode": "exit", "code": 91})
    run = run_when_done(api, failed)
    assert run["status"] == "FAILED" and run["exitCode"] == 91, run_log(api, run["id"])
    assert "Failed on purpose" in run_log(api, run["id"])
    run = run_when_done(api, exited)
    assert run["status"] == "FAILED" and run["exitCode"] == 91, run_log(api, run["id"])


def test_a_js_sdk_actor_past_its_timeout_ends_timed_out(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "wait", "seconds": 60}, timeout=3))
    assert run["status"] == "TIMED-OUT", run_log(api, run["id"])


def test_the_js_sdk_uses_greenrooms_apify_proxy(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    """Actor.createProxyConfiguration() unchanged (at home it throws without a password: the issue's
    exit 1): the access check through the status page, a request through newUrl(); an unknown group
    fails the run in the proxy's words."""
    check_the_sdk_proxy(api, sdk_actor)
