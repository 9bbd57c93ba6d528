"""The Apify SDK actors in tests/sdk_actors/: their files as an actor body, one build per backend, and
a run of one: started, waited for, its log."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Account
from tests.proxy_helpers import PAGE, serving_site
from tests.stack import Stack

SDK_ACTORS = Path(__file__).resolve().parent / "sdk_actors"
_NOT_SOURCES = {"node_modules", "__pycache__"}


def actor_body(directory: Path, name: str) -> dict[str, Any]:
    """The directory's files (not installed dependencies) as one SOURCE_FILES version, named `name` and
    a random suffix (one owner has many of them: tests/conftest.py's sdk_owner)."""
    files = [
        {"name": str(path.relative_to(directory)), "format": "TEXT", "content": path.read_text()}
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not _NOT_SOURCES & set(path.parts)
    ]
    return {
        "name": f"{name}-{uuid.uuid4().hex[:6]}",
        "versions": [{"versionNumber": "0.0", "sourceType": "SOURCE_FILES", "sourceFiles": files}],
    }


def build_once(
    stack: Stack, owner: Account, body: dict[str, Any], limit_s: float
) -> tuple[dict[str, Any], str]:
    """Create the actor as `owner` and wait for its first build: (the build, its log). The owner's later
    actors with the same files reuse the build's dependencies."""
    with stack.client(owner.token, timeout=5) as api:  # the build's long wait sets a timeout of its own
        actor = api.post("/acts", json=body).json()["data"]
        started = time.monotonic()
        while True:
            build = api.get(f"/acts/{actor['id']}/builds/default", params={"waitForFinish": 60}, timeout=90)
            build_data = build.json()["data"]
            if build_data["finishedAt"] is not None or time.monotonic() - started > limit_s:
                break
        log = api.get(f"/actor-builds/{build_data['id']}/log").text
    print(f"{body['name']} build: {time.monotonic() - started:.1f} s")
    return dict(build_data), log


def start_run(api: httpx.Client, actor: dict[str, Any], run_input: dict[str, Any], **params: Any) -> str:
    response = api.post(f"/acts/{actor['id']}/runs", json=run_input, params=params)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def run_when_done(api: httpx.Client, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The run once it has finished, or as it is after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 30}).json()["data"]
        if run["finishedAt"] is not None or time.monotonic() > deadline:
            return dict(run)


def run_log(api: httpx.Client, run_id: str) -> str:
    return api.get(f"/actor-runs/{run_id}/log").text


def wait_for_record(api: httpx.Client, store_id: str, key: str, run_id: str, timeout_s: float = 30) -> None:
    """Wait until the run's actor has written `key` to the store (how it says how far it got); on a
    timeout the run's log is the failure message."""
    deadline = time.monotonic() + timeout_s
    while api.get(f"/key-value-stores/{store_id}/records/{key}").status_code != 200:
        assert time.monotonic() < deadline, run_log(api, run_id)
        time.sleep(0.1)


def check_the_sdk_proxy(api: httpx.Client, actor: dict[str, Any]) -> None:
    """The SDK actor's `proxy` mode (tests/sdk_actors/): the SDK's access check through the status
    page, a request to a loopback site through the proxy URL it made; an unknown group fails the run
    in the proxy's words."""
    with serving_site() as site:
        run = run_when_done(api, start_run(api, actor, {"mode": "proxy", "url": f"http://{site}/"}))
        assert run["status"] == "SUCCEEDED", run_log(api, run["id"])
        output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
        assert output == {"page": PAGE.decode(), "isManInTheMiddle": False}
    refused = run_when_done(api, start_run(api, actor, {"mode": "proxy", "groups": ["NOPE"], "url": ""}))
    assert refused["status"] == "FAILED"
    assert "Proxy group NOPE is not available" in run_log(api, refused["id"])
