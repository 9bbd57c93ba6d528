"""An actor written with the Apify SDK for Python (tests/sdk_actors/python), unchanged, on a real Greenroom.

Its build installs requirements.txt (the pinned SDK) into a virtualenv, and the Dockerfile's CMD
(`python3 -m src`) runs on it, as `apify push` and a build do on Apify.
"""

from __future__ import annotations

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

ACTOR_DIR = SDK_ACTORS / "python"


def sdk_actor_body(name: str = "sdk-python") -> dict[str, Any]:
    return actor_body(ACTOR_DIR, name)


@pytest.fixture(scope="session")
def sdk_build(stack: Stack, sdk_owner: Account) -> dict[str, Any]:
    """The SDK actor built once per backend: later actors with the same files reuse its virtualenv."""
    build, log = build_once(stack, sdk_owner, sdk_actor_body(), limit_s=300)
    assert build["status"] == "SUCCEEDED", log
    return build


@pytest.fixture
def account(sdk_owner: Account) -> Account:
    """The tests' user here is the SDK actors' owner (tests/conftest.py): their runs reuse one build."""
    return sdk_owner


@pytest.fixture
def sdk_actor(api: httpx.Client, sdk_build: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/acts", json=sdk_actor_body())
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_run_sync_returns_the_sdk_actors_output(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    task = api.post("/actor-tasks", json={"actId": sdk_actor["id"], "name": "sdk", "input": {"name": "task"}})
    assert task.status_code == 201, task.text
    response = api.post("/actor-tasks/~sdk/run-sync", json={"name": "sync"})
    assert response.status_code == 201, response.text
    assert response.json() == {"hello": "sync", "input": {"name": "sync"}}
    run = api.get("/actor-tasks/~sdk/runs/last").json()["data"]
    assert run["status"] == "SUCCEEDED" and run["exitCode"] == 0, run_log(api, run["id"])
    assert run["statusMessage"] == "Echoed the input"
    items = api.get(f"/datasets/{run['defaultDatasetId']}/items").json()
    assert items == [{"n": 1, "name": "sync"}, {"n": 2}]


def test_the_sdk_actor_through_apify_clients_task_call(
    stack: Stack, account: Account, sdk_build: dict[str, Any]
) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    body = sdk_actor_body("sdk-client")
    actor = client.actors().create(name=body["name"], versions=body["versions"])
    task = client.tasks().create(actor_id=actor.id, name="sdk-client-task", task_input={"name": "saved"})
    run = client.task(task.id).call(task_input={"extra": 1})
    assert run is not None
    assert run.status == "SUCCEEDED", client.run(run.id).log().get()
    output = client.key_value_store(run.default_key_value_store_id).get_record("OUTPUT")
    assert output is not None
    assert output["value"] == {"hello": "saved", "input": {"name": "saved", "extra": 1}}
    assert client.dataset(run.default_dataset_id).list_items().items == [{"n": 1, "name": "saved"}, {"n": 2}]
    assert client.run(run.id).get().status_message == "Echoed the input"


def test_the_sdk_works_through_its_default_request_queue(
    api: httpx.Client, sdk_actor: dict[str, Any]
) -> None:
    urls = [f"https://example.com/{n}" for n in range(3)]
    response = api.post(f"/acts/{sdk_actor['id']}/run-sync", json={"mode": "queue", "urls": urls})
    run = api.get(f"/acts/{sdk_actor['id']}/runs/last").json()["data"]
    assert response.status_code == 201, run_log(api, run["id"])
    assert response.json() == {"handled": urls, "finished": True}
    queue = api.get(f"/actor-runs/{run['id']}/request-queue").json()["data"]
    assert queue["id"] == run["defaultRequestQueueId"]
    counts = {k: queue[k] for k in ("totalRequestCount", "handledRequestCount", "pendingRequestCount")}
    assert counts == {"totalRequestCount": 3, "handledRequestCount": 3, "pendingRequestCount": 0}


def test_the_sdk_hears_system_info(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "events"}))
    assert run["status"] == "SUCCEEDED", run_log(api, run["id"])
    info = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    # The SDK's own model of it (crawlee's EventSystemInfoData): the actor's memory as Greenroom
    # measured it (at home the SDK has no other source), and its CPU as a share of its cores.
    assert 10_000_000 < info["memory_info"]["current_size"] < run["options"]["memoryMbytes"] * 1024 * 1024
    assert info["cpu_info"]["used_ratio"] >= 0


def test_a_graceful_abort_lets_the_sdk_actor_end_cleanly(
    api: httpx.Client, sdk_actor: dict[str, Any]
) -> None:
    run_id = start_run(api, sdk_actor, {"mode": "wait", "seconds": 60})
    store = api.get(f"/actor-runs/{run_id}").json()["data"]["defaultKeyValueStoreId"]
    wait_for_record(api, store, "WAITING", run_id)
    started = time.monotonic()
    assert api.post(f"/actor-runs/{run_id}/abort", params={"gracefully": "true"}).status_code == 200
    run = run_when_done(api, run_id)
    assert run["status"] == "ABORTED"
    # It heard `aborting` (then persistState) before any signal, and ended by itself, well within
    # the grace period (30 s): exit code 0, not 143 (SIGTERM) or 137 (SIGKILL).
    assert run["exitCode"] == 0, run_log(api, run_id)
    assert time.monotonic() - started < 15
    heard = api.get(f"/key-value-stores/{store}/records/ABORTING").json()
    assert heard == {"heard": True, "persistState": [False]}


def test_a_failing_sdk_actor_ends_failed_with_its_exit_code(
    api: httpx.Client, sdk_actor: dict[str, Any]
) -> None:
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "fail"}))
    assert run["status"] == "FAILED" and run["exitCode"] == 91, run_log(api, run["id"])
    assert run["statusMessage"] == "Failed on purpose"
    exited = run_when_done(api, start_run(api, sdk_actor, {"mode": "exit", "code": 91}))
    assert exited["status"] == "FAILED" and exited["exitCode"] == 91


def test_an_sdk_actor_past_its_timeout_ends_timed_out(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "wait", "seconds": 60}, timeout=5))
    assert run["status"] == "TIMED-OUT", run_log(api, run["id"])


def _ppe(events: dict[str, float], **extra: Any) -> list[dict[str, Any]]:
    """A pay-per-event pricingInfos, in force at once."""
    charge_events = {
        name: {"eventTitle": name, "eventDescription": f"One {name}", "eventPriceUsd": price}
        for name, price in events.items()
    }
    return [
        {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": charge_events}, **extra}
    ]


def test_the_sdk_actor_charges_its_pay_per_event_run(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    """Actor.charge() on Greenroom as on Apify: the run's chargedEventCounts, as the SDK reported."""
    priced = api.put(f"/acts/{sdk_actor['id']}", json={"pricingInfos": _ppe({"some-event": 0.1})})
    assert priced.status_code == 200, priced.text
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "charge", "event": "some-event", "count": 2}))
    assert run["status"] == "SUCCEEDED", run_log(api, run["id"])
    assert run["chargedEventCounts"] == {"some-event": 2}
    assert run["pricingInfo"]["pricingModel"] == "PAY_PER_EVENT"
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output == {
        "chargedCount": 2,
        "limitReached": False,
        "isPayPerEvent": True,
        "maxTotalChargeUsd": "Infinity",
    }


def test_the_sdk_keeps_within_max_total_charge_usd(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    """The platform charges apify-actor-start at the start; the SDK counts it in, and charges only what
    the run's maxTotalChargeUsd leaves: (0.25 - 0.05) / 0.1 = 2 of the 5 asked for."""
    pricing = _ppe({"apify-actor-start": 0.05, "some-event": 0.1})
    assert api.put(f"/acts/{sdk_actor['id']}", json={"pricingInfos": pricing}).status_code == 200
    run_id = start_run(
        api,
        sdk_actor,
        {"mode": "charge", "event": "some-event", "count": 5},
        maxTotalChargeUsd=0.25,
        memory=1024,
    )
    run = run_when_done(api, run_id)
    assert run["status"] == "SUCCEEDED", run_log(api, run_id)
    assert run["options"]["maxTotalChargeUsd"] == 0.25
    assert run["chargedEventCounts"] == {"apify-actor-start": 1, "some-event": 2}
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output["chargedCount"] == 2 and output["limitReached"] is True
    assert output["maxTotalChargeUsd"] == "0.25"


def test_an_sdk_actor_without_pay_per_event_charges_nothing(
    api: httpx.Client, sdk_actor: dict[str, Any]
) -> None:
    run = run_when_done(api, start_run(api, sdk_actor, {"mode": "charge", "event": "some-event", "count": 2}))
    assert run["status"] == "SUCCEEDED", run_log(api, run["id"])
    assert "pricingInfo" not in run and "chargedEventCounts" not in run
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output["chargedCount"] == 0 and output["isPayPerEvent"] is False


def test_the_sdk_uses_greenrooms_apify_proxy(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    """Actor.create_proxy_configuration() unchanged: the run's APIFY_PROXY_* variables, the access
    check through the status page, a request through new_url(); an unknown group fails the check."""
    check_the_sdk_proxy(api, sdk_actor)
