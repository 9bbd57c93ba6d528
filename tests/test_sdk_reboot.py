"""Actor.metamorph() and Actor.reboot() of the Apify SDK for Python (tests/sdk_actors/python), unchanged,
on a real Greenroom: the platform stops the actor the SDK left sleeping and starts the target (or the
actor again) in the same run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sdk_support import run_log, run_when_done, start_run
from tests.test_sdk_python import account, sdk_actor, sdk_actor_body, sdk_build

__all__ = ["account", "sdk_actor", "sdk_build"]  # the fixtures, shared with tests/test_sdk_python.py

# The first test of a session also waits for the SDK actor's build (pip install).
pytestmark = pytest.mark.timeout(300)


def _record(api: httpx.Client, run: dict[str, Any], key: str) -> Any:
    response = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/{key}")
    return response.json() if response.status_code == 200 else None


def test_an_sdk_actor_metamorphs_into_another_sdk_actor(
    api: httpx.Client, sdk_actor: dict[str, Any], sdk_build: dict[str, Any]
) -> None:
    target = api.post("/acts", json=sdk_actor_body("sdk-python-target"))
    assert target.status_code == 201, target.text
    target_input = {"mode": "echo", "name": "morphed"}
    run_input = {"mode": "metamorph", "target": target.json()["data"]["id"], "targetInput": target_input}
    # run-sync of the first actor answers the second's OUTPUT (it reads its input via ACTOR_INPUT_KEY).
    answer = api.post(f"/acts/{sdk_actor['id']}/run-sync", json=run_input, timeout=200)
    run = api.get(f"/acts/{sdk_actor['id']}/runs/last").json()["data"]
    assert answer.status_code == 201, run_log(api, run["id"])
    assert answer.json() == {"hello": "morphed", "input": target_input}
    assert run["status"] == "SUCCEEDED" and run["actId"] == sdk_actor["id"]
    assert [m["actorId"] for m in run["metamorphs"]] == [target.json()["data"]["id"]]
    assert _record(api, run, "INPUT-METAMORPH-1") == target_input
    assert _record(api, run, "AFTER_METAMORPH") is None  # stopped while the SDK slept
    items = api.get(f"/datasets/{run['defaultDatasetId']}/items").json()
    assert [item["n"] for item in items] == [1, 2]


def test_an_sdk_actor_reboots_itself(api: httpx.Client, sdk_actor: dict[str, Any]) -> None:
    run_id = start_run(api, sdk_actor, {"mode": "reboot", "starts": 3})
    run = run_when_done(api, run_id, timeout_s=180)
    assert run["status"] == "SUCCEEDED", run_log(api, run_id)
    assert run["stats"]["rebootCount"] == 2
    assert _record(api, run, "OUTPUT") == {"starts": 3}
    assert _record(api, run, "AFTER_REBOOT") is None
