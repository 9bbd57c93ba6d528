"""run-sync with Accept: text/event-stream: the run's changes as server-sent events, then the answer."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from typing import Any

import httpx

from tests.actors import callable_actor
from tests.scrape import scrape, value
from tests.stack import Stack, free_port

SSE = {"Accept": "text/event-stream"}


def _sse_headers(api: httpx.Client) -> httpx.Headers:
    headers = httpx.Headers(api.headers)
    headers["Accept"] = "text/event-stream"  # in place of the client's own
    return headers


def _task(api: httpx.Client, target: str) -> str:
    actor = api.post("/acts", json=callable_actor(f"sse-{target.replace('_', '-')}", target))
    assert actor.status_code == 201, actor.text
    name = f"sse-{target.replace('_', '-')}"
    task = api.post("/actor-tasks", json={"actId": actor.json()["data"]["id"], "name": name})
    assert task.status_code == 201, task.text
    return str(task.json()["data"]["id"])


def _stream(url: str, api: httpx.Client, body: Any = None) -> tuple[httpx.Response, list[tuple[str, Any]]]:
    """The answer and its events in order: (name, data) and ("comment", text) for comment lines."""
    events: list[tuple[str, Any]] = []
    with httpx.stream("POST", url, json=body, headers=_sse_headers(api), timeout=60) as response:
        name = None
        for line in response.iter_lines():
            if line.startswith(":"):
                events.append(("comment", line[1:].strip()))
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name or "message", json.loads(line.removeprefix("data: "))))
    return response, events


def test_the_runs_changes_then_its_record(stack: Stack, api: httpx.Client) -> None:
    task_id = _task(api, "status_then_sleep")
    response, events = _stream(f"{stack.url}/v2/actor-tasks/{task_id}/run-sync", api)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    run_id = response.headers["x-apify-run-id"]
    runs = [data for name, data in events if name == "run"]
    assert runs[0]["id"] == run_id and runs[0]["status"] in ("READY", "RUNNING")
    assert any(r["status"] == "RUNNING" and r["statusMessage"] == "warming up" for r in runs), runs
    assert runs[-1]["status"] == "SUCCEEDED"
    # One event per change: no two in a row the same.
    shown = [(r["status"], r["statusMessage"]) for r in runs]
    assert all(a != b for a, b in itertools.pairwise(shown)), shown
    assert events[-1] == (
        "result",
        {
            "statusCode": 201,
            "contentType": "application/json; charset=utf-8",
            "body": '{"done":true}',
            "bodyEncoding": "utf-8",
        },
    ) or (events[-1][0] == "result" and json.loads(events[-1][1]["body"]) == {"done": True})


def test_a_quiet_wait_is_never_an_idle_connection(stack: Stack, api: httpx.Client) -> None:
    url = stack.start_api(replace(stack.settings, port=free_port(), event_stream_keepalive_s=0.3))
    task_id = _task(api, "sleep")
    _, events = _stream(f"{url}/v2/actor-tasks/{task_id}/run-sync", api, {"seconds": 2})
    assert events.count(("comment", "keep-alive")) >= 3, events
    assert events[-1][0] == "result"
    assert json.loads(events[-1][1]["body"]) == {"slept": 2.0}


def test_a_failed_run_and_a_wait_past_the_limit_end_with_an_error_event(
    stack: Stack, api: httpx.Client
) -> None:
    failing = _task(api, "fail")
    response, events = _stream(f"{stack.url}/v2/actor-tasks/{failing}/run-sync", api)
    assert events[-1][0] == "error"
    assert events[-1][1]["statusCode"] == 400 and events[-1][1]["error"]["type"] == "run-failed"
    assert response.headers["x-apify-run-id"] in events[-1][1]["error"]["message"]
    url = stack.start_api(replace(stack.settings, port=free_port(), run_sync_wait_s=1.0))
    sleeper = _task(api, "sleep")
    response, events = _stream(f"{url}/v2/actor-tasks/{sleeper}/run-sync", api, {"seconds": 3})
    assert events[-1] == (
        "error",
        {
            "statusCode": 408,
            "error": {
                "type": "run-timeout-exceeded",
                "message": "Actor run exceeded the timeout of 1 seconds for this API endpoint",
            },
        },
    )
    ended = api.get(f"/actor-runs/{response.headers['x-apify-run-id']}", params={"waitForFinish": 30})
    assert ended.json()["data"]["status"] == "SUCCEEDED"  # the run went on


def test_what_is_refused_before_the_run_exists_is_a_plain_error(stack: Stack, api: httpx.Client) -> None:
    answer = api.post("/actor-tasks/nosuchtask/run-sync", headers=SSE)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert "x-apify-run-id" not in answer.headers
    task_id = _task(api, "echo")
    bad = api.post(f"/actor-tasks/{task_id}/run-sync", params={"outputRecordKey": "bad key!"}, headers=SSE)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid-record-key"


def test_a_client_that_leaves_mid_stream_is_no_longer_held(stack: Stack, api: httpx.Client) -> None:
    url = stack.start_api(replace(stack.settings, port=free_port()))
    task_id = _task(api, "sleep")
    target = f"{url}/v2/actor-tasks/{task_id}/run-sync"
    with httpx.stream("POST", target, json={"seconds": 8}, headers=_sse_headers(api)) as response:
        lines = response.iter_lines()  # kept: a dropped iterator closes the connection at once
        assert next(lines) == "event: run"
        assert value(scrape(url), "greenroom_held_requests", kind="run-sync") == 1
    # The client has gone; the run goes on (8 s), and nothing holds a place for it.
    deadline = time.monotonic() + 3
    while value(scrape(url), "greenroom_held_requests", kind="run-sync") != 0:
        assert time.monotonic() < deadline, "the stream's registration outlived its client"
        time.sleep(0.1)


def test_run_sync_get_dataset_items_streams_too_and_ends_with_the_items(
    stack: Stack, api: httpx.Client
) -> None:
    task_id = _task(api, "push_items")
    url = f"{stack.url}/v2/actor-tasks/{task_id}/run-sync-get-dataset-items?clean=1&limit=2"
    response, events = _stream(url, api)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events[0][0] == "run" and events[-2][1]["status"] == "SUCCEEDED"
    name, result = events[-1]
    assert name == "result" and result["statusCode"] == 201
    assert result["contentType"].startswith("application/json")
    assert json.loads(result["body"]) == [{"n": 0}, {"n": 1}]  # clean drops the #secret fields
    assert result["headers"]["x-apify-pagination-total"] == "3"
    assert result["headers"]["x-apify-pagination-count"] == "2"
    failing = _task(api, "fail")
    _, events = _stream(f"{stack.url}/v2/actor-tasks/{failing}/run-sync-get-dataset-items", api)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "run-failed"
