"""run-sync end to end: HTTP -> SQL -> RQ worker -> actor -> SQL -> Redis wake-up -> HTTP."""

from __future__ import annotations

import httpx

from tests.actors import STDLIB_MAIN, callable_actor, files_actor
from tests.named_run import named_run


def _task(api: httpx.Client, actor_body: dict, task_input: dict | None = None, **options: object) -> dict:
    actor = api.post("/acts", json=actor_body)
    assert actor.status_code == 201, actor.text
    body = {
        "actId": actor.json()["data"]["id"],
        "name": f"{actor_body['name']}-task",
        "input": task_input or {},
    }
    if options:
        body["options"] = options
    task = api.post("/actor-tasks", json=body)
    assert task.status_code == 201, task.text
    return task.json()["data"]


def test_callable_task_run_sync_returns_output_record(api: httpx.Client) -> None:
    task = _task(api, callable_actor("echo", "echo"), {"a": 1, "b": 2})
    response = api.post(f"/actor-tasks/{task['id']}/run-sync", json={"b": 3})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"input": {"a": 1, "b": 3}}
    run = named_run(api, response)
    assert run["actorTaskId"] == task["id"] and run["status"] == "SUCCEEDED"


def test_get_run_sync_uses_task_input_and_name_refs(api: httpx.Client, account) -> None:
    _task(api, callable_actor("echo", "echo"), {"a": 1})
    by_tilde = api.get("/actor-tasks/~echo-task/run-sync")
    by_name = api.get(f"/actor-tasks/{account.username}~echo-task/run-sync")
    assert by_tilde.status_code == by_name.status_code == 201
    assert by_tilde.json() == by_name.json() == {"input": {"a": 1}}


def test_process_actor_reads_input_over_api_and_writes_output(api: httpx.Client) -> None:
    env_names = [
        "APIFY_IS_AT_HOME",
        "ACTOR_INPUT_KEY",
        "APIFY_API_BASE_URL",
        "ACTOR_TASK_ID",
        "APIFY_ACTOR_TASK_ID",
        "ACTOR_MEMORY_MBYTES",
        "ACTOR_MAX_PAID_DATASET_ITEMS",
        "ACTOR_STARTED_AT",
        "ACTOR_TIMEOUT_AT",
        "GREENROOM_DATABASE_URL",
    ]
    task = _task(api, files_actor("stdlib", {"main.py": STDLIB_MAIN}), {"env": env_names})
    response = api.post(
        f"/actor-tasks/{task['id']}/run-sync", params={"memory": 256, "maxItems": 5}, json={"extra": True}
    )
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["input"] == {"env": env_names, "extra": True}
    env = out["env"]
    assert env["APIFY_IS_AT_HOME"] == "1" and env["ACTOR_INPUT_KEY"] == "INPUT"
    assert env["APIFY_API_BASE_URL"].startswith("http://127.0.0.1:")
    assert not env["APIFY_API_BASE_URL"].endswith("/v2")
    assert env["ACTOR_TASK_ID"] == env["APIFY_ACTOR_TASK_ID"] == task["id"]
    assert env["ACTOR_MEMORY_MBYTES"] == "256" and env["ACTOR_MAX_PAID_DATASET_ITEMS"] == "5"
    assert env["ACTOR_STARTED_AT"].endswith("Z") and env["ACTOR_TIMEOUT_AT"] > env["ACTOR_STARTED_AT"]
    assert env["GREENROOM_DATABASE_URL"] is None  # the worker's own configuration stays out


def test_output_content_type_is_kept(api: httpx.Client) -> None:
    task = _task(api, callable_actor("texty", "text_output"))
    response = api.post(f"/actor-tasks/{task['id']}/run-sync")
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "plain words"


def test_output_content_type_is_returned_verbatim(api: httpx.Client) -> None:
    task = _task(api, callable_actor("htmly", "html_output"))
    response = api.post(f"/actor-tasks/{task['id']}/run-sync")
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/html"  # no charset added on the way out
    assert response.text == "<p>hi</p>"


def test_output_record_key_picks_another_record(api: httpx.Client) -> None:
    task = _task(api, callable_actor("echo", "echo"), {"x": 1})
    response = api.post(f"/actor-tasks/{task['id']}/run-sync", params={"outputRecordKey": "INPUT"})
    assert response.status_code == 201
    assert response.json() == {"x": 1}


def test_missing_output_record_is_201_with_empty_body(api: httpx.Client) -> None:
    task = _task(api, callable_actor("noop", "noop"))
    response = api.post(f"/actor-tasks/{task['id']}/run-sync")
    assert response.status_code == 201
    assert response.content == b""
    assert named_run(api, response)["status"] == "SUCCEEDED"


def test_failed_run_is_400_run_failed(api: httpx.Client) -> None:
    task = _task(api, callable_actor("failing", "fail"))
    response = api.post(f"/actor-tasks/{task['id']}/run-sync")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "run-failed"
    assert "status: FAILED" in error["message"]
    run = named_run(api, response)  # the caller knows which run failed, to read its log
    assert run["status"] == "FAILED" and run["id"] in error["message"]


def test_failing_process_actor_exit_code_and_log(api: httpx.Client) -> None:
    task = _task(api, files_actor("exiter", {"main.py": STDLIB_MAIN}), {"exit": 3})
    response = api.post(f"/actor-tasks/{task['id']}/runs", params={"waitForFinish": 30})
    assert response.status_code == 201
    run = response.json()["data"]
    assert run["status"] == "FAILED" and run["exitCode"] == 3
    log = api.get(f"/actor-runs/{run['id']}/log")
    assert log.status_code == 200
    lines = log.text.splitlines()
    assert any(line.endswith('got input {"exit": 3}') for line in lines)
    assert any(line.endswith("to stderr") for line in lines)
    assert all(line[:4].isdigit() and line[23] == "Z" for line in lines)


def test_actor_run_sync_stores_body_verbatim_as_input(api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]
    response = api.post(f"/actors/{actor['id']}/run-sync", json={"k": "v"})
    assert response.status_code == 201
    assert response.json() == {"input": {"k": "v"}}
    legacy = api.get(f"/acts/{actor['id']}/run-sync")
    assert legacy.status_code == 201 and legacy.json() == {"input": None}


def test_async_callable(api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("asyncy", "async_echo")).json()["data"]
    response = api.post(f"/acts/{actor['id']}/run-sync", json={"n": 1})
    assert response.status_code == 201
    assert response.json() == {"async": True, "input": {"n": 1}}
