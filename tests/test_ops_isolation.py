"""Another user's token reaches none of the new operations on a user's things: 404, nothing written.
(openapi.json is the exception Apify makes: a build's id is its credential, tested beside it.)"""

from __future__ import annotations

import uuid

import httpx

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.actors import callable_actor
from tests.conftest import Account
from tests.rows import snapshot
from tests.stack import Stack


def test_new_operations_are_per_user(
    stack: Stack, api: httpx.Client, account: Account, db: SyncDatabase
) -> None:
    actor_id = api.post("/acts", json=callable_actor("iso-ops", "echo")).json()["data"]["id"]
    run = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    newer = api.post(f"/acts/{actor_id}/builds", params={"version": "0.0", "waitForFinish": 60}).json()[
        "data"
    ]
    assert newer["status"] == "SUCCEEDED"  # so the run's build is no longer the default: deletable
    store, dataset = run["defaultKeyValueStoreId"], run["defaultDatasetId"]
    _, other_token = create_user(db, f"o{uuid.uuid4().hex[:12]}")
    before = snapshot(db, account.user_id)
    attempts = [
        ("PUT", f"/actor-runs/{run['id']}/dataset", {"json": {"name": "pwned"}}),
        ("DELETE", f"/actor-runs/{run['id']}/dataset", {}),
        ("PUT", f"/actor-runs/{run['id']}/key-value-store", {"json": {"name": "pwned"}}),
        ("DELETE", f"/actor-runs/{run['id']}/key-value-store", {}),
        ("GET", f"/actor-runs/{run['id']}/dataset/statistics", {}),
        ("GET", f"/actor-runs/{run['id']}/key-value-store/records", {}),
        ("GET", f"/datasets/{dataset}/statistics", {}),
        ("GET", f"/key-value-stores/{store}/records", {}),
        ("GET", f"/acts/{actor_id}/runs/{run['id']}", {}),
        ("POST", f"/acts/{actor_id}/runs/{run['id']}/resurrect", {}),
        ("POST", f"/actors/{actor_id}/runs/{run['id']}/abort", {}),
        ("DELETE", f"/actor-builds/{run['buildId']}", {}),
        ("DELETE", f"/acts/{actor_id}/runs/last/dataset", {}),
    ]
    with stack.client(other_token) as intruder:
        for method, path, kwargs in attempts:
            response = intruder.request(method, path, **kwargs)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["type"] == "record-not-found", (method, path)
        usage = intruder.get("/users/me/usage/monthly").json()["data"]
        assert (
            usage["counts"]["runs"] == 0
            and usage["monthlyServiceUsage"]["ACTOR_COMPUTE_UNITS"]["quantity"] == 0
        )
    assert snapshot(db, account.user_id) == before
