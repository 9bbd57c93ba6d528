"""Input schemas on a real Greenroom: defaults filled in and the input validated at every start (a
400 before anything is written), tasks' input checked when saved and when run, validate-input, and
builds failing on a schema Apify's rules reject. The actors are callables whose version carries the
schema file (a Greenroom extension), so no build takes time."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from apify_client import ApifyClient
from apify_client.errors import ApifyApiError

from tests.actors import callable_actor, files_actor
from tests.conftest import Account
from tests.stack import Stack

SCHEMA: dict[str, Any] = {
    "title": "Crawl",
    "type": "object",
    "schemaVersion": 1,
    "properties": {
        "url": {
            "title": "URL",
            "type": "string",
            "description": "Where to start",
            "editor": "textfield",
            "pattern": "^https?://",
            "prefill": "https://prefill.example",
        },
        "maxPages": {
            "title": "Max pages",
            "type": "integer",
            "description": "How many",
            "minimum": 1,
            "maximum": 100,
            "default": 10,
        },
        "mode": {
            "title": "Mode",
            "type": "string",
            "description": "How",
            "enum": ["fast", "slow"],
            "default": "fast",
        },
        "tags": {
            "title": "Tags",
            "type": "array",
            "description": "Labels",
            "editor": "stringList",
            "prefill": ["x"],
        },
        "startUrls": {
            "title": "Start URLs",
            "type": "array",
            "description": "Requests",
            "editor": "requestListSources",
        },
    },
    "required": ["url"],
}


def _schema_files(schema: Any) -> list[dict[str, Any]]:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return [{"name": ".actor/input_schema.json", "format": "TEXT", "content": text}]


def _actor(api: httpx.Client, name: str, schema: Any = SCHEMA, target: str = "echo") -> dict[str, Any]:
    body = callable_actor(name, target)
    body["versions"][0]["sourceFiles"] = _schema_files(schema)
    response = api.post("/acts", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def _count(api: httpx.Client, path: str, **params: Any) -> int:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["total"])


def _refused(response: httpx.Response, message: str, error_type: str = "invalid-input") -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"type": error_type, "message": message}


def test_defaults_are_filled_in_and_the_run_gets_them(api: httpx.Client) -> None:
    actor = _actor(api, "defaults")
    r = api.post(f"/acts/{actor['id']}/run-sync", json={"url": "https://a.example", "maxPages": 3})
    assert r.status_code == 201, r.text
    # Only `default`, never `prefill`; a given value wins.
    assert r.json() == {"input": {"url": "https://a.example", "maxPages": 3, "mode": "fast"}}
    run = api.get(f"/acts/{actor['id']}/runs/last").json()["data"]
    stored = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/INPUT")
    assert stored.json() == {"url": "https://a.example", "maxPages": 3, "mode": "fast"}
    # The Content-Type sent stays (the Apify CLI's `get-value INPUT --only-content-type` shows it).
    assert stored.headers["content-type"] == "application/json"


START_PATHS = [
    ("POST", "/acts/{id}/runs"),
    ("POST", "/acts/{id}/run-sync"),
    ("GET", "/acts/{id}/run-sync"),
    ("POST", "/actors/{id}/run-sync-get-dataset-items"),
    ("GET", "/acts/{id}/run-sync-get-dataset-items"),
    ("POST", "/actor-tasks/{task}/runs"),
    ("POST", "/actor-tasks/{task}/run-sync"),
    ("GET", "/actor-tasks/{task}/run-sync-get-dataset-items"),
]


def test_a_missing_required_field_is_refused_at_every_start_and_nothing_is_written(api: httpx.Client) -> None:
    actor = _actor(api, "required")
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": "no-input"}).json()["data"]
    before = {
        kind: _count(api, f"/{kind}", unnamed=1)
        for kind in ("key-value-stores", "datasets", "request-queues")
    }
    for method, path in START_PATHS:
        url = path.format(id=actor["id"], task=task["id"])
        body = {"maxPages": 2} if method == "POST" else None
        response = api.request(method, url, json=body)
        _refused(response, "Input is not valid: Field input.url is required")
    assert _count(api, "/actor-runs") == 0
    after = {kind: _count(api, f"/{kind}", unnamed=1) for kind in before}
    assert after == before


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"url": 5}, "Field input.url must be string"),
        ({"url": "ftp://x"}, 'Field input.url must match pattern "^https?://"'),
        ({"url": "https://x", "maxPages": 0}, "Field input.maxPages must be >= 1"),
        ({"url": "https://x", "maxPages": 101}, "Field input.maxPages must be <= 100"),
        ({"url": "https://x", "maxPages": 1.5}, "Field input.maxPages must be integer"),
        (
            {"url": "https://x", "mode": "warp"},
            'Field input.mode must be equal to one of the allowed values: "fast", "slow"',
        ),
        ({"url": "https://x", "tags": "a"}, "Field input.tags must be array"),
        (
            {"url": "https://x", "startUrls": [{"url": "https://ok.example"}, {"url": "nope"}, {}]},
            "Items in input.startUrls at positions [1,2] do not contain valid URLs",
        ),
    ],
)
def test_validate_input_answers_what_a_run_would(
    api: httpx.Client, given: dict[str, Any], message: str
) -> None:
    actor = _actor(api, "checked")
    _refused(api.post(f"/acts/{actor['id']}/validate-input", json=given), f"Input is not valid: {message}")
    _refused(api.post(f"/acts/{actor['id']}/runs", json=given), f"Input is not valid: {message}")
    assert _count(api, "/actor-runs") == 0


def test_validate_input(stack: Stack, account: Account, api: httpx.Client) -> None:
    actor = _actor(api, "validated")
    ok = api.post(f"/acts/{actor['id']}/validate-input", json={"url": "https://x"})
    assert ok.status_code == 200 and ok.json() == {"valid": True}
    by_number = api.post(
        f"/actors/{actor['id']}/validate-input", params={"build": "0.0.1"}, json={"url": "https://x"}
    )
    assert by_number.json() == {"valid": True}
    unknown = api.post(f"/acts/{actor['id']}/validate-input", params={"build": "beta"}, json={})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "unknown-build-tag"
    # The official client: True, or the 400 as an error.
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    assert client.actor(actor["id"]).validate_input({"url": "https://x"}) is True
    with pytest.raises(ApifyApiError) as refused:
        client.actor(actor["id"]).validate_input({"mode": "fast"})
    assert refused.value.type == "invalid-input" and "input.url is required" in refused.value.message
    # No schema: any input is valid.
    plain = api.post("/acts", json=callable_actor("plain", "echo")).json()["data"]
    assert api.post(f"/acts/{plain['id']}/validate-input", json={"anything": [1]}).json() == {"valid": True}


def test_an_actor_without_a_schema_is_unaffected(api: httpx.Client) -> None:
    plain = api.post("/acts", json=callable_actor("plain-run", "echo")).json()["data"]
    r = api.post(
        f"/acts/{plain['id']}/run-sync", content=b"[1, 2]", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201 and r.json() == {"input": [1, 2]}
    none = api.post(f"/acts/{plain['id']}/run-sync")
    assert none.status_code == 201 and none.json() == {"input": None}


def test_a_task_with_bad_input_is_not_saved(api: httpx.Client) -> None:
    actor = _actor(api, "tasked")
    bad = api.post("/actor-tasks", json={"actId": actor["id"], "name": "bad", "input": {"url": "x"}})
    _refused(bad, 'Input is not valid: Field input.url must match pattern "^https?://"')
    assert _count(api, "/actor-tasks") == 0
    good = api.post(
        "/actor-tasks", json={"actId": actor["id"], "name": "good", "input": {"url": "https://g"}}
    )
    assert good.status_code == 201, good.text
    task_id = good.json()["data"]["id"]
    _refused(
        api.put(f"/actor-tasks/{task_id}", json={"name": "renamed", "input": {"maxPages": 3}}),
        "Input is not valid: Field input.url is required",
    )
    _refused(
        api.put(f"/actor-tasks/{task_id}/input", json={"mode": "warp"}),
        'Input is not valid: Field input.mode must be equal to one of the allowed values: "fast", "slow"',
    )
    task = api.get(f"/actor-tasks/{task_id}").json()["data"]
    assert task["name"] == "good" and task["input"] == {"url": "https://g"}
    # The task's input with the body over it, then the defaults.
    r = api.post(f"/actor-tasks/{task_id}/run-sync", json={"maxPages": 2})
    assert r.status_code == 201 and r.json() == {"input": {"url": "https://g", "maxPages": 2, "mode": "fast"}}


def test_a_task_whose_input_the_new_schema_refuses_is_refused_at_run_time(api: httpx.Client) -> None:
    actor = _actor(api, "changing")
    task = api.post(
        "/actor-tasks", json={"actId": actor["id"], "name": "changing-task", "input": {"url": "https://g"}}
    )
    task_id = task.json()["data"]["id"]
    stricter = json.loads(json.dumps(SCHEMA))
    stricter["properties"]["maxPages"].pop("default")
    stricter["required"] = ["url", "maxPages"]
    r = api.put(f"/acts/{actor['id']}/versions/0.0", json={"sourceFiles": _schema_files(stricter)})
    assert r.status_code == 200, r.text
    _refused(api.post(f"/actor-tasks/{task_id}/runs"), "Input is not valid: Field input.maxPages is required")
    assert _count(api, "/actor-runs") == 0


def _build_log(api: httpx.Client, build_id: str) -> str:
    return api.get(f"/actor-builds/{build_id}/log").text


def test_a_schema_apify_rejects_fails_the_build_with_the_reason_in_its_log(api: httpx.Client) -> None:
    no_editor = json.loads(json.dumps(SCHEMA))
    no_editor["properties"]["url"].pop("editor")
    actor = _actor(api, "rejected", no_editor)
    [build] = api.get(f"/acts/{actor['id']}/builds").json()["data"]["items"]
    assert build["status"] == "FAILED"
    reason = "Input schema is not valid (field schema.properties.url.editor is required)"
    assert reason in _build_log(api, build["id"])
    # A run of that build (by number) says why it cannot start.
    _refused(
        api.post(
            f"/acts/{actor['id']}/runs", params={"build": build["buildNumber"]}, json={"url": "https://x"}
        ),
        f"Build {build['buildNumber']} cannot be run: {reason}",
        "invalid-input-schema",
    )
    # A process actor's build fails on a worker the same way (no dependencies: nothing installed).
    files = {"main.py": "print('never')\n", "INPUT_SCHEMA.json": "{not json"}
    made = api.post("/acts", json=files_actor("rejected-files", files)).json()["data"]
    build_id = api.get(f"/acts/{made['id']}/builds").json()["data"]["items"][0]["id"]
    done = api.get(f"/actor-builds/{build_id}", params={"waitForFinish": 60}).json()["data"]
    assert done["status"] == "FAILED"
    assert "Build failed: Input schema is not valid (INPUT_SCHEMA.json is not a JSON object)" in _build_log(
        api, build_id
    )


def test_metamorph_checks_the_input_against_the_targets_schema(api: httpx.Client) -> None:
    target = _actor(api, "morph-target")
    sleeper = api.post("/acts", json=callable_actor("morph-source", "sleep")).json()["data"]
    run = api.post(f"/acts/{sleeper['id']}/runs", json={"seconds": 60}).json()["data"]
    deadline = time.monotonic() + 30
    while api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    query = {"targetActorId": target["id"]}
    refused = api.post(f"/actor-runs/{run['id']}/metamorph", params=query, json={"maxPages": 2})
    _refused(refused, "Input is not valid: Field input.url is required")
    assert api.get(f"/actor-runs/{run['id']}").json()["data"]["metamorphs"] == []
    morphed = api.post(f"/actor-runs/{run['id']}/metamorph", params=query, json={"url": "https://m"})
    assert morphed.status_code == 200, morphed.text
    done = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert done["status"] == "SUCCEEDED"
    stored = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/INPUT-METAMORPH-1").json()
    assert stored == {"url": "https://m", "maxPages": 10, "mode": "fast"}
