"""GET /v2/datasets/:id/statistics and its run variants: field statistics measured from the items."""

from __future__ import annotations

import httpx
from apify_client import ApifyClient

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack

ITEMS = [
    {"price": 59, "name": "ab", "tags": ["x"], "meta": {"a": 1, "b": 2}},
    {"price": 89.5, "name": None, "tags": [], "ok": True},
    {"price": None, "name": "abcdef", "tags": ["x", "y", "z"], "meta": {}},
    {"name": "", "ok": False},
]
EXPECTED = {
    "meta": {"nullCount": 0, "emptyCount": 2, "min": 0, "max": 2},
    "name": {"nullCount": 1, "emptyCount": 0, "min": 0, "max": 6},
    "ok": {"nullCount": 0, "emptyCount": 2},  # booleans have no min or max
    "price": {"nullCount": 1, "emptyCount": 1, "min": 59, "max": 89.5},
    "tags": {"nullCount": 0, "emptyCount": 1, "min": 0, "max": 3},
}


def test_dataset_statistics_over_http_and_the_python_client(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    dataset_id = api.post("/datasets", params={"name": "stats"}).json()["data"]["id"]
    empty = api.get(f"/datasets/{dataset_id}/statistics")
    assert empty.status_code == 200 and empty.json() == {"data": {"fieldStatistics": {}}}
    assert api.post(f"/datasets/{dataset_id}/items", json=ITEMS).status_code == 201

    r = api.get(f"/datasets/{dataset_id}/statistics")
    assert r.status_code == 200 and r.json() == {"data": {"fieldStatistics": EXPECTED}}, r.text
    by_name = api.get(f"/datasets/{account.username}~stats/statistics")
    assert by_name.json() == r.json()
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    stats = client.dataset(dataset_id).get_statistics()
    assert stats.field_statistics is not None and stats.field_statistics["price"]["max"] == 89.5

    missing = api.get("/datasets/nosuchdataset0000/statistics")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "record-not-found"


def test_run_dataset_statistics(stack: Stack, account: Account, api: httpx.Client) -> None:
    actor_id = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]["id"]
    run = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 30}, json={"n": 7}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    expected = {"data": {"fieldStatistics": {"seen": {"nullCount": 0, "emptyCount": 0, "min": 1, "max": 1}}}}
    for path in (
        f"/actor-runs/{run['id']}/dataset/statistics",
        f"/acts/{actor_id}/runs/last/dataset/statistics",
        f"/actors/{actor_id}/runs/last/dataset/statistics",
    ):
        r = api.get(path)
        assert r.status_code == 200 and r.json() == expected, (path, r.text)
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    assert (
        client.run(run["id"]).dataset().get_statistics().field_statistics
        == expected["data"]["fieldStatistics"]
    )
    nothing = api.get(f"/acts/{actor_id}/runs/last/dataset/statistics", params={"status": "FAILED"})
    assert nothing.status_code == 404
