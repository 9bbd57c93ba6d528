"""Idempotency-Key on run starts and run-sync: a repeat attaches to the run the key started."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from server.settings import Settings
from server.storage.db import SyncDatabase
from server.storage.models import Run, RunStartKey
from tests.actors import callable_actor
from tests.conftest import new_account
from tests.stack import Stack


def _task(api: httpx.Client, target: str = "sleep") -> str:
    actor = api.post("/acts", json=callable_actor(f"key-{target}", target))
    assert actor.status_code == 201, actor.text
    body = {"actId": actor.json()["data"]["id"], "name": f"key-{target}-task"}
    task = api.post("/actor-tasks", json=body)
    assert task.status_code == 201, task.text
    return str(task.json()["data"]["id"])


def _runs_of(db: SyncDatabase, task_id: str) -> list[str]:
    with db.transaction() as session:
        return list(session.execute(select(Run.id).where(Run.actor_task_id == task_id)).scalars())


def test_a_run_sync_whose_client_gave_up_reattaches_with_the_same_key(
    stack: Stack, api: httpx.Client, db: SyncDatabase
) -> None:
    """The issue's case: the connection breaks while the run goes on; the same request again, with
    the same key, answers with that run's record, and no second run was started."""
    task_id = _task(api)
    path = f"{stack.url}/v2/actor-tasks/{task_id}/run-sync"
    headers = {**api.headers, "Idempotency-Key": "order-1234"}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up (its connection closes) mid-run
        httpx.post(path, json={"seconds": 2}, headers=headers, timeout=0.7)
    again = httpx.post(path, json={"seconds": 2}, headers=headers, timeout=60)
    assert again.status_code == 201, again.text
    assert again.json() == {"slept": 2.0}
    assert _runs_of(db, task_id) == [again.headers["x-apify-run-id"]]
    # Once more after the end: the same finished run's record, at once.
    third = httpx.post(path, json={"seconds": 2}, headers=headers, timeout=60)
    assert third.status_code == 201 and third.json() == {"slept": 2.0}
    assert third.headers["x-apify-run-id"] == again.headers["x-apify-run-id"]
    assert len(_runs_of(db, task_id)) == 1


def test_starts_with_one_key_at_once_start_one_run(stack: Stack, api: httpx.Client, db: SyncDatabase) -> None:
    """Concurrent repeats race in the start's transaction: one run, every answer naming it."""
    task_id = _task(api)
    path = f"{stack.url}/v2/actor-tasks/{task_id}/run-sync"
    headers = {**api.headers, "Idempotency-Key": "burst"}

    def one(_: int) -> httpx.Response:
        return httpx.post(path, json={"seconds": 0.5}, headers=headers, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    (run_id,) = _runs_of(db, task_id)
    assert {a.headers["x-apify-run-id"] for a in answers} == {run_id}


def test_runs_start_takes_the_key_as_a_parameter_too(api: httpx.Client, db: SyncDatabase) -> None:
    task_id = _task(api)
    first = api.post(f"/actor-tasks/{task_id}/runs", params={"idempotencyKey": "k1"}, json={"seconds": 0})
    repeat = api.post(f"/actor-tasks/{task_id}/runs", headers={"Idempotency-Key": "k1"}, json={"seconds": 5})
    assert first.status_code == repeat.status_code == 201
    assert first.json()["data"]["id"] == repeat.json()["data"]["id"]
    other = api.post(f"/actor-tasks/{task_id}/runs", params={"idempotencyKey": "k2"}, json={"seconds": 0})
    assert other.json()["data"]["id"] != first.json()["data"]["id"]
    unkeyed = [api.post(f"/actor-tasks/{task_id}/runs", json={"seconds": 0}) for _ in range(2)]
    assert unkeyed[0].json()["data"]["id"] != unkeyed[1].json()["data"]["id"]
    assert len(_runs_of(db, task_id)) == 4
    # The repeat's input (5 s) was not used: the run is the first's.
    run_id = first.json()["data"]["id"]
    ended = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 30}).json()["data"]
    assert ended["status"] == "SUCCEEDED"
    record = api.get(f"/key-value-stores/{ended['defaultKeyValueStoreId']}/records/OUTPUT")
    assert record.json() == {"slept": 0.0}


def test_another_users_key_is_their_own(stack: Stack, api: httpx.Client, settings: Settings) -> None:
    """By attack: a user who knows (or guesses) another's key gets a run of their own, never a look
    at the other user's run."""
    task_id = _task(api, "echo")
    mine = api.post(f"/actor-tasks/{task_id}/run-sync", headers={"Idempotency-Key": "shared"}, json={"a": 1})
    assert mine.status_code == 201 and mine.json() == {"input": {"a": 1}}
    intruder = new_account(settings)
    with stack.client(intruder.token) as theirs:
        their_task = _task(theirs, "echo")
        answer = theirs.post(
            f"/actor-tasks/{their_task}/run-sync", headers={"Idempotency-Key": "shared"}, json={"a": 2}
        )
        assert answer.status_code == 201 and answer.json() == {"input": {"a": 2}}
        assert answer.headers["x-apify-run-id"] != mine.headers["x-apify-run-id"]
        # Their key does not reach the first user's task either: that task is not theirs (404).
        assert (
            theirs.post(f"/actor-tasks/{task_id}/run-sync", headers={"Idempotency-Key": "shared"}).status_code
            == 404
        )


def test_a_key_reused_for_another_task_is_409_and_starts_nothing(api: httpx.Client, db: SyncDatabase) -> None:
    first, second = _task(api, "echo"), _task(api, "noop")
    assert api.post(f"/actor-tasks/{first}/run-sync", headers={"Idempotency-Key": "k"}).status_code == 201
    reused = api.post(f"/actor-tasks/{second}/run-sync", headers={"Idempotency-Key": "k"})
    assert reused.status_code == 409
    assert reused.json()["error"]["type"] == "invalid-idempotency-key"
    assert _runs_of(db, second) == []


def test_a_key_older_than_a_day_starts_a_new_run(api: httpx.Client, db: SyncDatabase) -> None:
    task_id = _task(api, "echo")
    first = api.post(f"/actor-tasks/{task_id}/run-sync", headers={"Idempotency-Key": "daily"})
    with db.transaction() as session:
        session.execute(
            update(RunStartKey)
            .where(RunStartKey.run_id == first.headers["x-apify-run-id"])
            .values(created_at=RunStartKey.created_at - timedelta(days=1, seconds=1))
        )
    later = api.post(f"/actor-tasks/{task_id}/run-sync", headers={"Idempotency-Key": "daily"})
    assert later.status_code == 201
    assert later.headers["x-apify-run-id"] != first.headers["x-apify-run-id"]
    assert len(_runs_of(db, task_id)) == 2
    # And the key now names the new run.
    again = api.post(f"/actor-tasks/{task_id}/run-sync", headers={"Idempotency-Key": "daily"})
    assert again.headers["x-apify-run-id"] == later.headers["x-apify-run-id"]


def test_a_key_too_long_is_400_and_starts_nothing(api: httpx.Client, db: SyncDatabase) -> None:
    task_id = _task(api, "echo")
    answer = api.post(f"/actor-tasks/{task_id}/run-sync", headers={"Idempotency-Key": "k" * 257})
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid-idempotency-key",
        "message": "Idempotency-Key must be at most 256 characters",
    }
    assert _runs_of(db, task_id) == []
