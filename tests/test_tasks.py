"""Tasks CRUD, task input, encoded JSON bodies, the Run object and waitForFinish."""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from datetime import datetime, timedelta

import brotli
import httpx
import pytest
from apify_client import ApifyClient
from apify_client._models import Run as RunModel
from apify_client._models import Task as TaskModel
from apify_client._models import TaskListItem

from tests.actors import callable_actor
from tests.stack import free_port

ID_RE = re.compile(r"^[a-zA-Z0-9]{17}$")
BUILD_NUMBER_RE = re.compile(r"^\d{1,2}\.\d{1,2}\.[1-9]\d{0,4}$")
ISO_Z_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TASK_GONE = {"type": "record-not-found", "message": "Actor task was not found"}


def _actor(api: httpx.Client, name: str = "echo", target: str = "echo") -> str:
    response = api.post("/acts", json=callable_actor(name, target))
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def _task(api: httpx.Client, actor_id: str, name: str = "my-task", **fields) -> dict:
    response = api.post("/actor-tasks", json={"actId": actor_id, "name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _when(value: str) -> datetime:
    assert ISO_Z_RE.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- CRUD --------------------------------------------------------------------------------------------


def test_create_and_get_task(api, stack, account) -> None:
    actor_id = _actor(api)
    options = {"build": "latest", "timeoutSecs": 60, "memoryMbytes": 256}
    response = api.post(
        "/actor-tasks",
        json={
            "actId": actor_id,
            "name": "my-task",
            "title": "My task",
            "options": options,
            "input": {"a": 1},
        },
    )
    assert response.status_code == 201, response.text
    task = response.json()["data"]
    assert ID_RE.fullmatch(task["id"])
    assert response.headers["location"] == f"{stack.url}/v2/actor-tasks/{task['id']}"
    TaskModel.model_validate(task)
    assert task["userId"] == account.user_id
    assert task["actId"] == actor_id
    assert task["name"] == "my-task" and task["title"] == "My task"
    assert task["username"] == account.username
    assert task["options"] == options
    assert task["input"] == {"a": 1}
    assert _when(task["createdAt"]) <= _when(task["modifiedAt"])

    for ref in (task["id"], "~my-task", f"{account.username}~my-task"):
        got = api.get(f"/actor-tasks/{ref}")
        assert got.status_code == 200, (ref, got.text)
        assert got.json()["data"] == task


def test_task_can_name_its_actor_by_username_and_name(api, account) -> None:
    actor_id = _actor(api, "by-name")
    for ref, name in ((f"{account.username}~by-name", "task-one"), ("~by-name", "task-two")):
        assert _task(api, ref, name)["actId"] == actor_id


def test_list_tasks(api) -> None:
    actor_id = _actor(api)
    names = ["task-a", "task-b", "task-c"]
    for name in names:
        _task(api, actor_id, name)
    listed = api.get("/actor-tasks").json()["data"]
    assert listed["total"] == listed["count"] == 3
    assert [t["name"] for t in listed["items"]] == names
    for item in listed["items"]:
        TaskListItem.model_validate(item)
    page = api.get("/actor-tasks", params={"limit": 1, "offset": 1, "desc": "true"}).json()["data"]
    assert (page["total"], page["count"], page["limit"], page["offset"], page["desc"]) == (3, 1, 1, 1, True)
    assert [t["name"] for t in page["items"]] == ["task-b"]


def test_update_is_partial(api) -> None:
    actor_id = _actor(api)
    options = {"build": "latest", "timeoutSecs": 60, "memoryMbytes": 256}
    task = _task(api, actor_id, title="Before", options=options, input={"a": 1, "b": 2})
    url = f"/actor-tasks/{task['id']}"

    titled = api.put(url, json={"title": "After"})
    assert titled.status_code == 200, titled.text
    data = titled.json()["data"]
    assert data["title"] == "After"
    assert {k: data[k] for k in ("id", "name", "actId", "options", "input", "createdAt")} == {
        k: task[k] for k in ("id", "name", "actId", "options", "input", "createdAt")
    }
    assert _when(data["modifiedAt"]) >= _when(task["modifiedAt"])
    assert api.get(url).json()["data"] == data

    # Options are patched key by key (the client sends only the option it changes).
    patched = api.put(url, json={"options": {"memoryMbytes": 512}}).json()["data"]
    assert patched["options"] == {"build": "latest", "timeoutSecs": 60, "memoryMbytes": 512}
    assert patched["title"] == "After" and patched["input"] == {"a": 1, "b": 2}

    # `input` given in PUT /actor-tasks/:id replaces the input as a whole.
    replaced = api.put(url, json={"input": {"c": 3}}).json()["data"]
    assert replaced["input"] == {"c": 3}
    assert replaced["options"]["memoryMbytes"] == 512

    unchanged = api.put(url, json={}).json()["data"]
    assert {k: unchanged[k] for k in ("name", "title", "options", "input")} == {
        k: replaced[k] for k in ("name", "title", "options", "input")
    }


def test_rename_task(api, account) -> None:
    task = _task(api, _actor(api), "old-name")
    renamed = api.put(f"/actor-tasks/{task['id']}", json={"name": "new-name"})
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == "new-name"
    assert api.get(f"/actor-tasks/{account.username}~new-name").json()["data"]["id"] == task["id"]
    old = api.get("/actor-tasks/~old-name")
    assert old.status_code == 404 and old.json()["error"] == TASK_GONE


def test_delete_task(api) -> None:
    keep = _task(api, _actor(api), "keep-me")
    task = _task(api, keep["actId"], "delete-me")
    url = f"/actor-tasks/{task['id']}"
    deleted = api.delete(url)
    assert deleted.status_code == 204 and deleted.content == b""
    for method, path in (("GET", url), ("GET", f"{url}/input"), ("POST", f"{url}/runs"), ("DELETE", url)):
        response = api.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == TASK_GONE
    # The other task of the same actor is still there, and the name can be used again.
    assert api.get(f"/actor-tasks/{keep['id']}").status_code == 200
    assert _task(api, keep["actId"], "delete-me")["id"] != task["id"]


def test_task_input_endpoints_are_raw_and_put_merges(api) -> None:
    task = _task(api, _actor(api), input={"a": 1, "b": {"deep": True}})
    url = f"/actor-tasks/{task['id']}/input"
    got = api.get(url)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.json() == {"a": 1, "b": {"deep": True}}

    put = api.put(url, json={"b": 2, "c": "new"})
    assert put.status_code == 200
    assert put.json() == {"a": 1, "b": 2, "c": "new"}
    assert api.get(url).json() == {"a": 1, "b": 2, "c": "new"}
    assert api.get(f"/actor-tasks/{task['id']}").json()["data"]["input"] == {"a": 1, "b": 2, "c": "new"}


def test_task_without_input(api) -> None:
    task = _task(api, _actor(api))
    url = f"/actor-tasks/{task['id']}/input"
    assert api.get(url).json() == {}
    assert api.put(url, json={"x": 1}).json() == {"x": 1}


# --- encoded JSON bodies -------------------------------------------------------------------------

ENCODERS = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_encoded_json_bodies_are_decoded(api, encoding) -> None:
    encode = ENCODERS[encoding]

    def send(method: str, url: str, value: object) -> httpx.Response:
        body = encode(json.dumps(value).encode())
        headers = {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": encoding}
        return api.request(method, url, content=body, headers=headers)

    actor = send("POST", "/acts", callable_actor("packed", "echo"))
    assert actor.status_code == 201, actor.text
    actor_id = actor.json()["data"]["id"]
    big_input = {"pad": "p" * 2000, "a": 1}
    task = send("POST", "/actor-tasks", {"actId": actor_id, "name": "packed-task", "input": big_input})
    assert task.status_code == 201, task.text
    task_id = task.json()["data"]["id"]
    assert task.json()["data"]["input"] == big_input

    assert send("PUT", f"/actor-tasks/{task_id}", {"title": "T"}).json()["data"]["title"] == "T"
    assert send("PUT", f"/actor-tasks/{task_id}/input", {"b": 2}).json() == {**big_input, "b": 2}

    run = send("POST", f"/actor-tasks/{task_id}/run-sync", {"c": 3})
    assert run.status_code == 201, run.text
    assert run.json() == {"input": {**big_input, "b": 2, "c": 3}}

    started = send("POST", f"/acts/{actor_id}/runs?waitForFinish=30", {"direct": True}).json()["data"]
    record = api.get(f"/key-value-stores/{started['defaultKeyValueStoreId']}/records/INPUT")
    assert record.json() == {"direct": True}
    assert "content-encoding" not in record.headers  # the run input is stored decoded

    dataset = started["defaultDatasetId"]
    assert send("POST", f"/datasets/{dataset}/items", [{"n": 1}, {"n": 2}]).status_code == 201
    assert api.get(f"/datasets/{dataset}/items").json() == [{"seen": {"direct": True}}, {"n": 1}, {"n": 2}]


# --- runs ----------------------------------------------------------------------------------------


def test_run_object_has_every_field_the_client_needs(api, account) -> None:
    actor_id = _actor(api, "noop", "noop")
    task = _task(api, actor_id, options={"timeoutSecs": 60, "memoryMbytes": 256})
    started = api.post(f"/actor-tasks/{task['id']}/runs", params={"waitForFinish": 30, "memory": 512})
    assert started.status_code == 201, started.text
    assert started.headers["location"].endswith(f"/v2/actor-runs/{started.json()['data']['id']}")

    response = api.get(f"/actor-runs/{started.json()['data']['id']}")
    assert response.status_code == 200
    run = response.json()["data"]
    RunModel.model_validate(run)
    assert ID_RE.fullmatch(run["id"])
    assert run["actId"] == actor_id
    assert run["userId"] == account.user_id
    assert run["actorTaskId"] == task["id"]
    assert run["status"] == "SUCCEEDED"
    assert _when(run["startedAt"]) <= _when(run["finishedAt"])
    assert run["meta"]["origin"] == "API"
    assert isinstance(run["stats"], dict)
    options = run["options"]
    assert options["build"] == "latest"
    assert options["timeoutSecs"] == 60
    assert options["memoryMbytes"] == 512
    assert isinstance(options["diskMbytes"], int) and options["diskMbytes"] >= 0
    assert ID_RE.fullmatch(run["buildId"])
    assert BUILD_NUMBER_RE.fullmatch(run["buildNumber"]), run["buildNumber"]
    assert run["generalAccess"]
    assert run["exitCode"] == 0
    for field in ("defaultKeyValueStoreId", "defaultDatasetId", "defaultRequestQueueId"):
        assert ID_RE.fullmatch(run[field]), field
    assert len({run["defaultKeyValueStoreId"], run["defaultDatasetId"], run["defaultRequestQueueId"]}) == 3
    store = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}").json()["data"]
    assert store["actRunId"] == run["id"] and store["actId"] == actor_id
    assert api.get(f"/datasets/{run['defaultDatasetId']}").json()["data"]["actRunId"] == run["id"]


def test_wait_for_finish_999999_returns_when_the_run_finishes(api) -> None:
    actor_id = _actor(api, "sleeper", "sleep")
    start = time.monotonic()
    started = api.post(f"/acts/{actor_id}/runs", json={"seconds": 1}).json()["data"]
    assert started["status"] in ("READY", "RUNNING")
    response = api.get(f"/actor-runs/{started['id']}", params={"waitForFinish": 999999})
    elapsed = time.monotonic() - start
    assert response.status_code == 200, response.text
    run = response.json()["data"]
    assert run["status"] == "SUCCEEDED"
    assert 0.9 <= elapsed < 15
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output == {"slept": 1}
    # On a finished run it answers at once.
    start = time.monotonic()
    assert (
        api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 999999}).json()["data"]["status"]
        == "SUCCEEDED"
    )
    assert time.monotonic() - start < 10


def test_wait_for_finish_999999_on_run_start(api) -> None:
    actor_id = _actor(api, "sleeper", "sleep")
    response = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 999999}, json={"seconds": 0.5})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["status"] == "SUCCEEDED"


@pytest.fixture(scope="module")
def short_wait_url(stack) -> str:
    """A second API process on the same services, whose waitForFinish cap is 0.5 s."""
    return stack.start_api(stack.settings.with_(port=free_port(), wait_for_finish_max_s=0.5))


def test_wait_for_finish_is_clamped_to_the_maximum(api, account, short_wait_url) -> None:
    actor_id = _actor(api, "sleeper", "sleep")
    run = api.post(f"/acts/{actor_id}/runs", json={"seconds": 2}).json()["data"]
    headers = {"Authorization": f"Bearer {account.token}"}
    start = time.monotonic()
    response = httpx.get(
        f"{short_wait_url}/v2/actor-runs/{run['id']}",
        params={"waitForFinish": 999999},
        headers=headers,
        timeout=30,
    )
    elapsed = time.monotonic() - start
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] in ("READY", "RUNNING")
    assert 0.4 <= elapsed < 10  # the status above is the real check: the 2 s run had not finished
    finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert finished["status"] == "SUCCEEDED"


def test_apify_client_task_calls(stack, account) -> None:
    """The official client end to end: create, update (partial options), input, call() and get()."""
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    actor = client.actors().create(
        name="client-sleeper",
        versions=[
            {"versionNumber": "0.0", "sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:sleep"}
        ],
    )
    task = client.tasks().create(
        actor_id=actor.id,
        name="client-task",
        task_input={"seconds": 0.2},
        memory_mbytes=256,
        run_timeout=timedelta(seconds=60),
    )
    tasks = client.task(task.id)
    updated = tasks.update(memory_mbytes=512)
    assert updated.options.memory_mbytes == 512 and updated.options.timeout_secs == 60
    assert tasks.get_input() == {"seconds": 0.2}
    assert tasks.update_input(task_input={"seconds": 0.3}) == {"seconds": 0.3}
    run = tasks.call()
    assert run is not None and run.status == "SUCCEEDED"
    assert run.options.memory_mbytes == 512
    again = client.run(run.id).get()
    assert again is not None and again.id == run.id and again.finished_at is not None
    assert client.task("nonexistent-task-id").get() is None
    tasks.delete()
    assert tasks.get() is None
