"""The system's health for the console: workers alive, queue depth, the oldest run still waiting, and
how long data is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import anyio
from rq import Worker
from sqlalchemy import func, select

from server.lifespan import AppState
from server.statuses import RunStatus
from server.storage.models import Run


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: str
    last_heartbeat: datetime | None


@dataclass(frozen=True)
class SystemView:
    workers: list[WorkerInfo]
    queue_name: str
    queue_depth: int
    waiting_runs: int
    oldest_waiting: datetime | None
    retention_days: float  # GREENROOM_RETENTION_DAYS (0: kept forever): the page says the policy


def _from_redis(state: AppState) -> tuple[list[WorkerInfo], int]:
    # RQ's registry of live workers (each renews its key with a heartbeat; a dead one expires).
    found = [
        WorkerInfo(w.name, str(w.get_state()), w.last_heartbeat)
        for w in Worker.all(connection=state.redis, queue=state.queue)
    ]
    return found, state.queue.count


async def system_view(state: AppState) -> SystemView:
    """Waiting counts every user's runs: the page is about the machine, and names no run."""
    workers, depth = await anyio.to_thread.run_sync(_from_redis, state)
    async with state.db.read() as session:
        stmt = select(func.count(), func.min(Run.started_at)).where(Run.status == RunStatus.READY.value)
        waiting, oldest = (await session.execute(stmt)).one()
    return SystemView(workers, state.queue.name, depth, int(waiting), oldest, state.settings.retention_days)
