"""Abort (at once and gracefully) and resurrect, on a real worker."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import select

from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.models import Run
from tests.actors import callable_actor
from tests.runs_db import insert_run
from tests.services import kill_listeners


def _actor(api: httpx.Client, target: str) -> dict[str, Any]:
    response = api.post("/acts", json=callable_actor(f"ctl-{target.replace('_', '-')}", target))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _wait_status(api: httpx.Client, run_id: str, status: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 1}).json()["data"]
        if run["status"] == status or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_abort_kills_a_running_actor_at_once(api: httpx.Client) -> None:
    actor = _actor(api, "graceful_sleeper")
    run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
    assert _wait_status(api, run["id"], "RUNNING")["status"] == "RUNNING"
    time.sleep(0.5)  # the actor has installed its SIGTERM handler
    started = time.monotonic()
    aborting = api.post(f"/actor-runs/{run['id']}/abort")
    assert aborting.status_code == 200
    assert aborting.json()["data"]["status"] in ("ABORTING", "ABORTED")
    finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert finished["status"] == "ABORTED"
    assert finished["statusMessage"] == "Actor run was aborted"
    assert time.monotonic() - started < 3
    # Killed with no grace: its SIGTERM handler never ran.
    bye = api.get(f"/key-value-stores/{finished['defaultKeyValueStoreId']}/records/BYE")
    assert bye.status_code == 404


def test_abort_right_as_the_run_starts_kills_the_actor_at_once(api: httpx.Client) -> None:
    """RUNNING is set at the claim, before the actor's child has made its process group: an abort in
    that moment must still kill it (it once waited for the actor to end by itself)."""
    actor = api.post("/acts", json=callable_actor("early-abort", "sleep")).json()["data"]
    echo = api.post("/acts", json=callable_actor("early-echo", "echo")).json()["data"]
    for _ in range(4):
        api.post(f"/acts/{echo['id']}/run-sync", json={})  # the workers have run something before
        run = api.post(f"/acts/{actor['id']}/runs", json={"seconds": 30}).json()["data"]
        while api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] != "RUNNING":
            time.sleep(0.01)
        asked = time.monotonic()
        api.post(f"/actor-runs/{run['id']}/abort")
        done = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 60}).json()["data"]
        assert done["status"] == "ABORTED"
        assert time.monotonic() - asked < 5


def test_graceful_abort_sends_sigterm_first(api: httpx.Client) -> None:
    actor = _actor(api, "graceful_sleeper")
    run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
    assert _wait_status(api, run["id"], "RUNNING")["status"] == "RUNNING"
    time.sleep(0.5)
    assert api.post(f"/actor-runs/{run['id']}/abort", params={"gracefully": "true"}).status_code == 200
    finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert finished["status"] == "ABORTED"
    bye = api.get(f"/key-value-stores/{finished['defaultKeyValueStoreId']}/records/BYE")
    assert bye.status_code == 200 and bye.json() == {"signal": 15}


def test_abort_of_a_run_that_never_started_ends_it_and_wakes_waiters(
    api: httpx.Client, db: SyncDatabase
) -> None:
    run_id = insert_run(db, _actor(api, "noop")["id"], RunStatus.READY)
    aborted = api.post(f"/actor-runs/{run_id}/abort")
    assert aborted.status_code == 200
    assert aborted.json()["data"]["status"] == "ABORTED"
    assert aborted.json()["data"]["finishedAt"] is not None


def test_abort_of_a_finished_run_changes_nothing(api: httpx.Client) -> None:
    actor = _actor(api, "echo")
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    after = api.post(f"/actor-runs/{run['id']}/abort").json()["data"]
    assert after["status"] == "SUCCEEDED" and after["finishedAt"] == run["finishedAt"]


def test_abort_heard_from_sql_when_the_message_was_lost(
    api: httpx.Client, db: SyncDatabase, settings: Settings
) -> None:
    """ABORTING committed with no Redis message: the supervisor reads it when it (re)subscribes."""
    actor = _actor(api, "graceful_sleeper")
    run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
    assert _wait_status(api, run["id"], "RUNNING")["status"] == "RUNNING"
    with db.transaction() as session:
        session.query(Run).filter(Run.id == run["id"]).update(
            {"status": "ABORTING", "abort_gracefully": False}
        )
    assert kill_listeners(settings.redis_url, settings.redis_prefix) > 0
    finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert finished["status"] == "ABORTED"


def test_resurrect_runs_a_finished_run_again_with_the_same_storages(
    api: httpx.Client, db: SyncDatabase
) -> None:
    actor = _actor(api, "count_once")
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    resurrected = api.post(f"/actor-runs/{run['id']}/resurrect", params={"timeout": 120})
    assert resurrected.status_code == 200, resurrected.text
    assert resurrected.json()["data"]["status"] in ("READY", "RUNNING", "SUCCEEDED")
    again = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert again["status"] == "SUCCEEDED"
    assert again["defaultDatasetId"] == run["defaultDatasetId"]
    assert again["stats"]["resurrectCount"] == 1
    assert again["options"]["timeoutSecs"] == 120
    items = api.get(f"/datasets/{run['defaultDatasetId']}/items").json()
    assert len(items) == 2  # one item per execution, in the same dataset
    with db.transaction() as session:
        assert session.execute(select(Run.status).where(Run.id == run["id"])).scalar_one() == "SUCCEEDED"


def test_resurrect_of_a_running_run_is_400(api: httpx.Client, db: SyncDatabase) -> None:
    run_id = insert_run(db, _actor(api, "noop")["id"], RunStatus.RUNNING)
    response = api.post(f"/actor-runs/{run_id}/resurrect")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid-request"
    with db.transaction() as session:
        assert session.execute(select(Run.status).where(Run.id == run_id)).scalar_one() == "RUNNING"
