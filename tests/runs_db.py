"""Direct SQL helpers for tests that need a run no worker will pick up."""

from __future__ import annotations

from sqlalchemy import select

from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.ids import new_id
from server.storage.models import Actor, Build, Dataset, KeyValueStore, Run


def insert_run(db: SyncDatabase, actor_id: str, status: RunStatus = RunStatus.RUNNING) -> str:
    """A run row in `status`, with its storages, never enqueued."""
    with db.transaction() as session:
        actor = session.execute(select(Actor).where(Actor.id == actor_id)).scalar_one()
        build = session.execute(select(Build).where(Build.act_id == actor_id)).scalars().first()
        assert build is not None
        store = KeyValueStore(user_id=actor.user_id)
        dataset = Dataset(user_id=actor.user_id)
        session.add_all([store, dataset])
        session.flush()
        run = Run(
            user_id=actor.user_id,
            act_id=actor.id,
            build_id=build.id,
            build_number=build.build_number,
            status=status.value,
            options={"build": "latest", "timeoutSecs": 60, "memoryMbytes": 1024, "diskMbytes": 2048},
            default_key_value_store_id=store.id,
            default_dataset_id=dataset.id,
            default_request_queue_id=new_id(),
        )
        session.add(run)
        session.flush()
        return run.id


def runs_of_task(db: SyncDatabase, task_id: str) -> list[Run]:
    with db.transaction() as session:
        return list(session.execute(select(Run).where(Run.actor_task_id == task_id)).scalars())


def run_status(db: SyncDatabase, run_id: str) -> str:
    with db.transaction() as session:
        return session.execute(select(Run.status).where(Run.id == run_id)).scalar_one()
