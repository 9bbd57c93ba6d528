"""A run's default dataset and key-value store renamed and deleted through the run (by id and as the
last run of an actor or task), and Apify's deprecated /v2/acts/:actorId/runs/:runId spellings."""

from __future__ import annotations

import httpx
import pytest
from apify_client import ApifyClient
from apify_client.errors import NotFoundError

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def _echo_run(api: httpx.Client, name: str = "echo") -> tuple[str, dict]:
    actor = api.post("/acts", json=callable_actor(name, "echo"))
    assert actor.status_code == 201, actor.text
    actor_id = actor.json()["data"]["id"]
    run = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 30}, json={"a": 1})
    assert run.json()["data"]["status"] == "SUCCEEDED", run.text
    return actor_id, run.json()["data"]


def test_run_default_storages_update_and_delete_with_the_python_client(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    _, run = _echo_run(api)
    client = _client(stack, account)
    dataset = client.run(run["id"]).dataset()
    renamed = dataset.update(name="run-results")
    assert renamed.id == run["defaultDatasetId"] and renamed.name == "run-results"
    assert api.get(f"/datasets/{account.username}~run-results").json()["data"]["id"] == renamed.id
    store = client.run(run["id"]).key_value_store()
    assert store.update(name="run-store").name == "run-store"
    assert api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}").json()["data"]["name"] == "run-store"

    dataset.delete()
    store.delete()
    gone = api.get(f"/datasets/{run['defaultDatasetId']}")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "record-not-found"
    assert api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}").status_code == 404
    with pytest.raises(NotFoundError):  # a chained client's 404 is raised, not None (client 3.x)
        client.run(run["id"]).dataset().get()
    assert api.get(f"/actor-runs/{run['id']}/key-value-store").status_code == 404


def test_last_run_storages_update_and_delete(stack: Stack, account: Account, api: httpx.Client) -> None:
    actor_id, run = _echo_run(api)
    task = api.post("/actor-tasks", json={"actId": actor_id, "name": "last-task", "input": {}})
    assert task.status_code == 201, task.text
    task_id = task.json()["data"]["id"]
    task_run = api.post(f"/actor-tasks/{task_id}/runs", params={"waitForFinish": 30}).json()["data"]

    for base, expected in ((f"/acts/{actor_id}", task_run), (f"/actor-tasks/{task_id}", task_run)):
        r = api.put(f"{base}/runs/last/dataset", json={"name": "last-ds"})
        assert r.status_code == 200 and r.json()["data"]["id"] == expected["defaultDatasetId"], r.text
        r = api.put(f"{base}/runs/last/key-value-store", json={"name": "last-kv"})
        assert r.status_code == 200 and r.json()["data"]["name"] == "last-kv", r.text
    # A name another storage holds is 409, and the last run of a status that has none is 404.
    api.post("/datasets", params={"name": "taken"})
    clash = api.put(f"/acts/{actor_id}/runs/last/dataset", json={"name": "taken"})
    assert clash.status_code == 409, clash.text
    none = api.delete(f"/acts/{actor_id}/runs/last/dataset", params={"status": "FAILED"})
    assert none.status_code == 404 and none.json()["error"]["type"] == "record-not-found"

    client = _client(stack, account)
    client.actor(actor_id).last_run().dataset().delete()
    client.task(task_id).last_run().key_value_store().delete()
    assert api.get(f"/datasets/{task_run['defaultDatasetId']}").status_code == 404
    assert api.get(f"/key-value-stores/{task_run['defaultKeyValueStoreId']}").status_code == 404
    assert api.get(f"/datasets/{run['defaultDatasetId']}").status_code == 200  # the earlier run's stays


def test_run_under_its_actor_aliases(stack: Stack, account: Account, api: httpx.Client) -> None:
    actor_id, run = _echo_run(api)
    other_id, other_run = _echo_run(api, "other")
    for prefix in ("acts", "actors"):
        got = api.get(f"/{prefix}/{actor_id}/runs/{run['id']}")
        assert got.status_code == 200 and got.json()["data"]["id"] == run["id"], got.text
        by_name = api.get(f"/{prefix}/{account.username}~echo/runs/{run['id']}")
        assert by_name.json()["data"]["id"] == run["id"]
        # Another actor's run is not found there, for reads and writes alike.
        for method, tail in (("GET", ""), ("POST", "/abort"), ("POST", "/resurrect")):
            wrong = api.request(method, f"/{prefix}/{actor_id}/runs/{other_run['id']}{tail}")
            assert wrong.status_code == 404, wrong.text
            assert wrong.json()["error"] == {"type": "record-not-found", "message": "Actor run was not found"}
    assert api.get(f"/actor-runs/{other_run['id']}").json()["data"]["status"] == "SUCCEEDED"

    resurrected = api.post(f"/acts/{actor_id}/runs/{run['id']}/resurrect")
    assert resurrected.status_code == 200 and resurrected.json()["data"]["status"] in ("READY", "RUNNING")
    aborted = api.post(f"/actors/{actor_id}/runs/{run['id']}/abort")
    assert aborted.status_code == 200 and aborted.json()["data"]["id"] == run["id"], aborted.text
    final = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert final["status"] in ("ABORTED", "SUCCEEDED")
    assert other_id != actor_id
