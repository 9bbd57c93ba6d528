"""Data retention: the sweeper's pass deletes finished runs older than GREENROOM_RETENTION_DAYS with
their logs and unnamed storages, and unnamed storages no run owns that were not used within it, in
bounded batches; named storages, recent runs and runs still going are kept. Rows are aged in SQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import func, select, update

from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.ids import utcnow
from server.storage.models import (
    Dataset,
    DatasetItem,
    KeyValueRecord,
    KeyValueStore,
    LogChunk,
    RequestQueue,
    Run,
)
from server.sweeper.retention import delete_old
from tests.actors import callable_actor
from tests.conftest import new_account
from tests.stack import Stack, running
from worker.context import WorkerContext

STORAGES = (Dataset, KeyValueStore, RequestQueue)


@pytest.fixture
def own(isolated_settings: Settings) -> Iterator[tuple[Stack, WorkerContext]]:
    """A Greenroom of the test's own, its sweepers' retention off (so only the test deletes), and a
    worker context as a sweeper's, with the policy at 7 days."""
    settings = replace(isolated_settings, retention_days=0)
    with running(settings, workers=1) as stack:
        db = SyncDatabase(create_sync_engine(settings.sql_url))
        redis = Redis.from_url(settings.redis_url)
        try:
            yield stack, WorkerContext(replace(settings, retention_days=7), db, redis)
        finally:
            db.engine.dispose()
            redis.close()


def _run(api: httpx.Client, actor_id: str, body: dict[str, Any], wait: bool = True) -> dict[str, Any]:
    params = {"waitForFinish": 60} if wait else {}
    run: dict[str, Any] = api.post(f"/acts/{actor_id}/runs", params=params, json=body).json()["data"]
    return run


def _age(db: SyncDatabase, run_ids: list[str], storage_ids: list[str], days: float) -> None:
    then = utcnow() - timedelta(days=days)
    with db.transaction() as session:
        if run_ids:
            values = {"started_at": then, "finished_at": then}
            session.execute(
                update(Run).where(Run.id.in_(run_ids), Run.finished_at.is_not(None)).values(values)
            )
            session.execute(
                update(Run).where(Run.id.in_(run_ids), Run.finished_at.is_(None)).values(started_at=then)
            )
        for model in STORAGES:
            stamps = {"created_at": then, "modified_at": then, "accessed_at": then}
            session.execute(update(model).where(model.id.in_(storage_ids)).values(stamps))


def _defaults(run: dict[str, Any]) -> list[str]:
    return [run["defaultDatasetId"], run["defaultKeyValueStoreId"], run["defaultRequestQueueId"]]


def _count(db: SyncDatabase, column: Any, ids: list[str]) -> int:
    with db.transaction() as session:
        return int(session.execute(select(func.count()).where(column.in_(ids))).scalar_one())


def _nothing(expired: Any) -> bool:
    return not expired.runs and not expired.storages


def test_old_runs_and_unused_unnamed_storages_go_in_batches(own: tuple[Stack, WorkerContext]) -> None:
    stack, ctx = own
    account = new_account(ctx.settings)
    with stack.client(account.token) as api:
        echo = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]
        sleeper = api.post("/acts", json=callable_actor("sleeper", "sleep")).json()["data"]
        old = [_run(api, echo["id"], {"n": n}) for n in range(2)]
        recent = _run(api, echo["id"], {"n": 9})
        going = _run(api, sleeper["id"], {"seconds": 60}, wait=False)
        assert all(r["status"] == "SUCCEEDED" for r in (*old, recent))
        named = api.post("/datasets", params={"name": f"keep-{account.username}"}).json()["data"]
        unused = api.post("/key-value-stores").json()["data"]
        fresh = api.post("/datasets").json()["data"]
        api.put(f"/key-value-stores/{unused['id']}/records/a", json={"x": 1}).raise_for_status()
        deadline = time.monotonic() + 30
        while api.get(f"/actor-runs/{going['id']}").json()["data"]["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        aged_storages = [
            *(s for r in old for s in _defaults(r)),
            *_defaults(going),
            named["id"],
            unused["id"],
        ]
        _age(ctx.db, [r["id"] for r in (*old, going)], aged_storages, days=8)
        # Six days is within the policy: kept.
        _age(ctx.db, [recent["id"]], [*_defaults(recent), fresh["id"]], days=6)
        old_ids = [r["id"] for r in old]
        old_storages = [s for r in old for s in _defaults(r)]
        assert _count(ctx.db, LogChunk.run_id, old_ids) > 0
        assert _count(ctx.db, DatasetItem.dataset_id, old_storages) == 2

        # Batches of one: the oldest finished run (with its three storages), one unused storage.
        first = delete_old(ctx, limit=1)
        assert len(first.runs) == 1 and first.runs[0] in old_ids
        done = next(r for r in old if r["id"] == first.runs[0])
        assert sorted(first.storages) == sorted([*_defaults(done), unused["id"]])
        second = delete_old(ctx, limit=1)
        assert second.runs == [r for r in old_ids if r != first.runs[0]]
        assert _nothing(delete_old(ctx, limit=1))

        for run_id in old_ids:
            assert api.get(f"/actor-runs/{run_id}").status_code == 404
        assert _count(ctx.db, LogChunk.run_id, old_ids) == 0
        assert _count(ctx.db, DatasetItem.dataset_id, old_storages) == 0
        assert _count(ctx.db, KeyValueRecord.store_id, [*old_storages, unused["id"]]) == 0
        for path in (f"/datasets/{old[0]['defaultDatasetId']}", f"/key-value-stores/{unused['id']}"):
            assert api.get(path).status_code == 404
        # Kept: the recent run, the run still going (its storages too, old as they look), the named
        # dataset, the unnamed one used within the policy.
        assert api.get(f"/actor-runs/{recent['id']}").status_code == 200
        assert api.get(f"/actor-runs/{going['id']}").json()["data"]["status"] == "RUNNING"
        for storage_id in _defaults(going):
            assert (
                _count(ctx.db, Dataset.id, [storage_id])
                + _count(ctx.db, KeyValueStore.id, [storage_id])
                + (_count(ctx.db, RequestQueue.id, [storage_id]))
                == 1
            )
        assert api.get(f"/datasets/{named['id']}").status_code == 200
        assert api.get(f"/datasets/{fresh['id']}").status_code == 200
        assert api.get(f"/datasets/{recent['defaultDatasetId']}/items").json() == [{"seen": {"n": 9}}]
        api.post(f"/actor-runs/{going['id']}/abort").raise_for_status()

    # 0 keeps everything.
    _age(ctx.db, [recent["id"]], [fresh["id"]], days=3650)
    assert _nothing(delete_old(replace(ctx, settings=replace(ctx.settings, retention_days=0))))


def test_a_pass_runs_once_a_minute_and_again_at_once_while_batches_are_full(
    isolated_settings: Settings,
) -> None:
    from server.sweeper import retention

    db = SyncDatabase(create_sync_engine(isolated_settings.sql_url))
    redis = Redis.from_url(isolated_settings.redis_url)
    ctx = WorkerContext(replace(isolated_settings, retention_days=7), db, redis)
    try:
        passes = retention.Retention(ctx, every_s=3600)
        assert passes() is not None  # at the start
        assert passes() is None  # not before the next minute
        account = new_account(ctx.settings)
        with db.transaction() as session:
            old = utcnow() - timedelta(days=8)
            for _ in range(3):
                stamps = {"created_at": old, "modified_at": old, "accessed_at": old}
                session.add(Dataset(user_id=account.user_id, **stamps))
        passes = retention.Retention(ctx, every_s=3600, batch=2)
        first = passes()
        assert first is not None and len(first.storages) == 2
        second = passes()  # the batch was full: once more at the next sweep
        assert second is not None and len(second.storages) == 1
        assert passes() is None
    finally:
        db.engine.dispose()
        redis.close()
