"""Run lists, the last run, a run's default storages by the run, and deleting runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from apify_client import ApifyClient
from sqlalchemy import update

from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.models import Run
from tests.actors import callable_actor
from tests.conftest import Account
from tests.rows import counts, snapshot
from tests.runs_db import insert_run
from tests.stack import Stack

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _actor(api: httpx.Client, name: str, target: str) -> dict[str, Any]:
    response = api.post("/acts", json=callable_actor(name, target))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _task(api: httpx.Client, actor_id: str, name: str) -> dict[str, Any]:
    response = api.post("/actor-tasks", json={"actId": actor_id, "name": name, "input": {"t": name}})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _run_row(db: SyncDatabase, actor_id: str, status: RunStatus, minutes: int, **values: Any) -> str:
    """A run started at T0 + minutes, in status, no worker involved."""
    run_id = insert_run(db, actor_id, status)
    with db.transaction() as session:
        stmt = update(Run).where(Run.id == run_id)
        session.execute(stmt.values(started_at=T0 + timedelta(minutes=minutes), **values))
    return run_id


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]["items"]]


def _finished_run(api: httpx.Client, path: str, body: Any = None) -> dict[str, Any]:
    response = api.post(path, params={"waitForFinish": 60}, json=body)
    assert response.status_code == 201, response.text
    run = response.json()["data"]
    assert RunStatus(run["status"]).is_terminal, run
    return run


def test_user_run_list_sorts_pages_and_filters(api: httpx.Client, db: SyncDatabase, account: Account) -> None:
    actor = _actor(api, "lister", "noop")
    a = _run_row(db, actor["id"], RunStatus.SUCCEEDED, 0)
    b = _run_row(db, actor["id"], RunStatus.FAILED, 10)
    c = _run_row(db, actor["id"], RunStatus.RUNNING, 20)
    d = _run_row(db, actor["id"], RunStatus.SUCCEEDED, 30)

    page = api.get("/actor-runs").json()["data"]
    # Other tests' users have runs too: the total is this user's alone.
    assert {k: page[k] for k in ("total", "offset", "limit", "count", "desc")} == {
        "total": 4,
        "offset": 0,
        "limit": 1000,
        "count": 4,
        "desc": False,
    }
    assert [i["id"] for i in page["items"]] == [a, b, c, d]
    item = page["items"][0]
    assert item == {
        "id": a,
        "actId": actor["id"],
        "actorTaskId": None,
        "userId": account.user_id,
        "status": "SUCCEEDED",
        "startedAt": "2026-01-01T12:00:00.000Z",
        "finishedAt": None,
        "buildId": item["buildId"],
        "buildNumber": "0.0.1",
        "meta": {"origin": "API"},
        "usageTotalUsd": 0.0,
        "defaultKeyValueStoreId": item["defaultKeyValueStoreId"],
        "defaultDatasetId": item["defaultDatasetId"],
        "defaultRequestQueueId": item["defaultRequestQueueId"],
    }
    assert _ids(api.get("/actor-runs", params={"desc": 1})) == [d, c, b, a]
    assert _ids(api.get("/actor-runs", params={"offset": 1, "limit": 2})) == [b, c]
    assert _ids(api.get("/actor-runs", params={"desc": "true", "offset": 1, "limit": 2})) == [c, b]
    assert _ids(api.get("/actor-runs", params={"status": "SUCCEEDED"})) == [a, d]
    assert _ids(api.get("/actor-runs", params={"status": "FAILED,RUNNING"})) == [b, c]
    # Both bounds are inclusive.
    bounds = {"startedAfter": "2026-01-01T12:10:00.000Z", "startedBefore": "2026-01-01T12:20:00Z"}
    assert _ids(api.get("/actor-runs", params=bounds)) == [b, c]
    assert _ids(api.get("/actor-runs", params={"startedAfter": "2026-01-01T13:25:00+01:00"})) == [d]
    filtered = api.get("/actor-runs", params={"startedBefore": "2026-01-01T12:15:00Z", "status": "FAILED"})
    assert filtered.json()["data"]["total"] == 1 and _ids(filtered) == [b]


def test_actor_and_task_run_lists(api: httpx.Client, account: Account) -> None:
    actor = _actor(api, "echoer", "echo")
    task = _task(api, actor["id"], "echo-task")
    other_task = _task(api, actor["id"], "other-task")
    by_task = _finished_run(api, f"/actor-tasks/{task['id']}/runs")
    by_other = _finished_run(api, f"/actor-tasks/{other_task['id']}/runs")
    by_actor = _finished_run(api, f"/acts/{actor['id']}/runs", {"direct": True})
    other_actor = _actor(api, "other", "noop")
    _finished_run(api, f"/acts/{other_actor['id']}/runs")

    assert _ids(api.get(f"/actor-tasks/{task['id']}/runs")) == [by_task["id"]]
    assert _ids(api.get("/actor-tasks/~other-task/runs")) == [by_other["id"]]
    expected = [by_task["id"], by_other["id"], by_actor["id"]]
    assert _ids(api.get(f"/acts/{actor['id']}/runs")) == expected
    assert _ids(api.get(f"/actors/{account.username}~echoer/runs", params={"desc": 1})) == expected[::-1]
    listed = api.get(f"/actor-tasks/{task['id']}/runs").json()["data"]["items"][0]
    assert listed["actorTaskId"] == task["id"] and listed["status"] == "SUCCEEDED"
    assert _ids(api.get(f"/acts/{actor['id']}/runs", params={"status": "FAILED"})) == []


@pytest.mark.parametrize(
    ("params", "message_part"),
    [
        ({"status": "DONE"}, "status"),
        ({"status": "SUCCEEDED,"}, "status"),
        ({"startedAfter": "yesterday"}, "startedAfter"),
        ({"startedBefore": "2026-13-01T00:00:00Z"}, "startedBefore"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "many"}, "limit"),
        ({"desc": "maybe"}, "desc"),
    ],
)
def test_bad_list_filters_are_400(api: httpx.Client, params: dict[str, str], message_part: str) -> None:
    actor = _actor(api, "bad-filters", "noop")
    for path in ("/actor-runs", f"/acts/{actor['id']}/runs"):
        response = api.get(path, params=params)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid-input" and message_part in error["message"]


def test_unknown_owner_and_bad_last_run_parameters(api: httpx.Client, db: SyncDatabase) -> None:
    assert api.get("/acts/nope/runs").json()["error"]["type"] == "record-not-found"
    missing_task = api.get("/actor-tasks/nope/runs/last")
    assert missing_task.status_code == 404
    assert missing_task.json()["error"] == {"type": "record-not-found", "message": "Actor task was not found"}
    actor = _actor(api, "lastless", "noop")
    none_yet = api.get(f"/acts/{actor['id']}/runs/last")
    assert none_yet.status_code == 404
    assert none_yet.json()["error"] == {"type": "record-not-found", "message": "Actor run was not found"}
    for sub in ("", "/log", "/dataset/items", "/key-value-store/records/INPUT"):
        assert api.get(f"/acts/{actor['id']}/runs/last{sub}").status_code == 404
    _run_row(db, actor["id"], RunStatus.SUCCEEDED, 0)
    assert api.get(f"/acts/{actor['id']}/runs/last", params={"origin": "NOWHERE"}).status_code == 400
    assert api.get(f"/acts/{actor['id']}/runs/last", params={"status": "OK"}).status_code == 400
    assert api.get(f"/acts/{actor['id']}/runs/last", params={"waitForFinish": "x"}).status_code == 400


def test_last_run_filters_and_its_storages(api: httpx.Client, db: SyncDatabase) -> None:
    actor = _actor(api, "last-echo", "echo")
    task = _task(api, actor["id"], "last-task")
    first = _finished_run(api, f"/actor-tasks/{task['id']}/runs", {"n": 1})
    second = _finished_run(api, f"/actor-tasks/{task['id']}/runs", {"n": 2})
    base = f"/actor-tasks/{task['id']}/runs/last"

    last = api.get(base)
    assert last.status_code == 200 and last.json()["data"]["id"] == second["id"]
    assert last.json()["data"]["options"]["memoryMbytes"] == 1024  # the full Run, not RunShort
    assert api.get(base, params={"status": "SUCCEEDED", "origin": "API"}).json()["data"]["id"] == second["id"]
    assert api.get(base, params={"origin": "WEB"}).status_code == 404
    assert api.get(base, params={"status": "FAILED"}).status_code == 404
    # An older run is "last" for a status only it has.
    with db.transaction() as session:
        session.execute(update(Run).where(Run.id == first["id"]).values(status="ABORTED"))
    assert api.get(base, params={"status": "ABORTED"}).json()["data"]["id"] == first["id"]
    aborted = {"status": "ABORTED"}
    items = api.get(f"{base}/dataset/items", params=aborted)
    assert items.status_code == 200 and items.json() == [{"seen": {"t": "last-task", "n": 1}}]
    assert items.headers["x-apify-pagination-total"] == "1"
    record = api.get(f"{base}/key-value-store/records/OUTPUT", params=aborted)
    assert record.json() == {"input": {"t": "last-task", "n": 1}}
    assert api.get(f"{base}/dataset", params=aborted).json()["data"]["id"] == first["defaultDatasetId"]
    store = api.get(f"{base}/key-value-store").json()["data"]
    assert store["id"] == second["defaultKeyValueStoreId"]
    keys = api.get(f"{base}/key-value-store/keys", params=aborted).json()["data"]["items"]
    assert [k["key"] for k in keys] == ["INPUT", "OUTPUT"]
    log = api.get(f"{base}/log")
    assert log.status_code == 200 and "echo got {'t': 'last-task', 'n': 2}" in log.text
    # The actor's prefix sees the task's runs too.
    assert api.get(f"/acts/{actor['id']}/runs/last").json()["data"]["id"] == second["id"]


def test_last_run_wait_for_finish_is_clamped_and_returns_running_run(
    api: httpx.Client, db: SyncDatabase
) -> None:
    actor = _actor(api, "last-running", "noop")
    run_id = _run_row(db, actor["id"], RunStatus.RUNNING, 0)
    # The test stack's limit is the default 60 s; a small wait shows the non-terminal run comes back.
    response = api.get(f"/acts/{actor['id']}/runs/last", params={"waitForFinish": 0.3})
    assert response.status_code == 200
    assert response.json()["data"]["id"] == run_id and response.json()["data"]["status"] == "RUNNING"


def test_run_storage_shortcuts(api: httpx.Client) -> None:
    actor = _actor(api, "shortcut-echo", "echo")
    run = _finished_run(api, f"/acts/{actor['id']}/runs", {"k": "v"})
    base = f"/actor-runs/{run['id']}"
    assert api.get(f"{base}/dataset").json()["data"]["id"] == run["defaultDatasetId"]
    items = api.get(f"{base}/dataset/items", params={"limit": 5})
    assert items.json() == [{"seen": {"k": "v"}}]
    assert items.headers["x-apify-pagination-limit"] == "5"
    assert api.get(f"{base}/key-value-store").json()["data"]["id"] == run["defaultKeyValueStoreId"]
    head = api.head(f"{base}/dataset/items")
    assert head.status_code == 200 and head.headers["x-apify-pagination-total"] == "1"
    output = api.get(f"{base}/key-value-store/records/OUTPUT")
    assert output.status_code == 200 and output.json() == {"input": {"k": "v"}}
    keys = api.get(f"{base}/key-value-store/keys", params={"limit": 1}).json()["data"]
    assert [k["key"] for k in keys["items"]] == ["INPUT"] and keys["nextExclusiveStartKey"] == "INPUT"
    assert api.get(f"{base}/key-value-store/keys", params={"limit": "x"}).status_code == 400
    missing = api.get(f"{base}/key-value-store/records/NOPE")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "record-not-found"
    bad_key = api.get(f"{base}/key-value-store/records/a%2Fb")
    assert bad_key.status_code == 400 and bad_key.json()["error"]["type"] == "invalid-record-key"
    put = api.put(
        f"{base}/key-value-store/records/NOTE", content=b"hi", headers={"Content-Type": "text/plain"}
    )
    assert put.status_code == 201
    note = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/NOTE")
    assert note.text == "hi"
    unknown = api.get("/actor-runs/aaaaaaaaaaaaaaaaa/dataset/items")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {"type": "record-not-found", "message": "Actor run was not found"}


def test_delete_finished_run_removes_its_storages_and_log(
    api: httpx.Client, db: SyncDatabase, account: Account
) -> None:
    actor = _actor(api, "deletable", "echo")
    keep = _finished_run(api, f"/acts/{actor['id']}/runs", {"keep": True})
    gone = _finished_run(api, f"/acts/{actor['id']}/runs", {"keep": False})
    before = counts(db, account.user_id)
    response = api.delete(f"/actor-runs/{gone['id']}")
    assert response.status_code == 204 and response.content == b""
    after = counts(db, account.user_id)
    assert after["runs"] == before["runs"] - 1
    assert after["key_value_stores"] == before["key_value_stores"] - 1
    assert after["datasets"] == before["datasets"] - 1
    assert after["dataset_items"] == before["dataset_items"] - 1
    assert after["key_value_records"] == before["key_value_records"] - 2  # INPUT and OUTPUT
    assert after["log_chunks"] < before["log_chunks"]
    for path in (
        f"/actor-runs/{gone['id']}",
        f"/actor-runs/{gone['id']}/log",
        f"/key-value-stores/{gone['defaultKeyValueStoreId']}",
        f"/datasets/{gone['defaultDatasetId']}",
    ):
        assert api.get(path).status_code == 404, path
    assert api.delete(f"/actor-runs/{gone['id']}").status_code == 404
    assert _ids(api.get("/actor-runs")) == [keep["id"]]
    assert api.get(f"/actor-runs/{keep['id']}/key-value-store/records/OUTPUT").status_code == 200


@pytest.mark.parametrize("status", [RunStatus.READY, RunStatus.RUNNING, RunStatus.ABORTING])
def test_deleting_an_unfinished_run_is_400_and_deletes_nothing(
    api: httpx.Client, db: SyncDatabase, account: Account, status: RunStatus
) -> None:
    actor = _actor(api, "busy", "noop")
    # On a queue no worker serves: a READY run started at T0 is stale at once, and a sweeper of the
    # shared Greenroom would enqueue it and a worker claim it between the snapshots (seen in CI).
    run_id = _run_row(db, actor["id"], status, 0, queue_name="nobody-works-this-queue")
    before = snapshot(db, account.user_id)
    response = api.delete(f"/actor-runs/{run_id}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "cannot-remove-running-run" and run_id in error["message"]
    assert snapshot(db, account.user_id) == before


def test_apify_client_run_lists_last_run_and_delete(stack: Stack, account: Account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    actor = client.actors().create(**_create_kwargs(callable_actor("client-echo", "echo")))
    task = client.tasks().create(actor_id=actor.id, name="client-runs", task_input={"a": 1})
    first = client.task(task.id).call()
    second = client.task(task.id).call(task_input={"a": 2})
    assert first is not None and second is not None

    listed = client.runs().list()
    assert listed.total == 2 and [r.id for r in listed.items] == [first.id, second.id]
    newest_first = client.task(task.id).runs().list(desc=True)
    assert [r.id for r in newest_first.items] == [second.id, first.id]
    assert client.runs().list(status=["FAILED", "ABORTED"]).total == 0
    assert client.actor(actor.id).runs().list(status="SUCCEEDED", started_after=first.started_at).total == 2
    assert client.runs().list(started_before=first.started_at).items[0].id == first.id

    last = client.task(task.id).last_run(status="SUCCEEDED", origin="API")
    got = last.get()
    assert got is not None and got.id == second.id
    assert last.dataset().list_items().items == [{"seen": {"a": 2}}]
    record = last.key_value_store().get_record("OUTPUT")
    assert record is not None and record["value"] == {"input": {"a": 2}}
    assert "echo got {'a': 2}" in (last.log().get() or "")
    assert [k.key for k in client.run(first.id).key_value_store().list_keys().items] == ["INPUT", "OUTPUT"]
    assert client.run(first.id).dataset().list_items().items == [{"seen": {"a": 1}}]
    assert client.task(task.id).last_run(status="FAILED").get() is None

    client.run(first.id).delete()
    assert client.run(first.id).get() is None
    assert [r.id for r in client.runs().list().items] == [second.id]


def test_apify_client_actor_call_streams_the_log(
    stack: Stack, account: Account, capfd: pytest.CaptureFixture[str]
) -> None:
    """actor.call() with its default logger streams the log (stream=true&raw=true) while it waits."""
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    actor = client.actors().create(**_create_kwargs(callable_actor("client-call", "echo")))
    run = client.actor(actor.id).call(run_input={"hello": "log"})
    assert run is not None and run.status == "SUCCEEDED"
    out = capfd.readouterr()
    assert "echo got {'hello': 'log'}" in out.out + out.err


def _create_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    return {"name": body["name"], "versions": body["versions"]}
