"""Gauges that are facts, read when /metrics is asked: from SQL (runs waiting and running, the
oldest waiting run, builds by status), from Redis (worker processes alive), and from this process
(held requests). Nothing to keep in step across processes, nothing stale after a crash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from redis import Redis
from rq import Queue
from rq.worker_registration import get_keys
from sqlalchemy import func, select

from server.lifespan import AppState
from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.models import Build, Run
from server.storage.runs import ACTIVE

# Both use the index on runs.status: a few rows per status, whatever the table holds.
_LIVE_RUNS = (
    select(Run.status, func.count(), func.min(Run.started_at))
    .where(Run.status.in_([RunStatus.READY.value, *(s.value for s in ACTIVE)]))
    .group_by(Run.status)
)
_BUILDS = select(Build.status, func.count()).group_by(Build.status)


@dataclass(frozen=True)
class Facts:
    waiting: int
    running: int
    oldest_waiting_s: float
    builds: dict[str, int]
    workers: dict[str, int]  # by queue: runs, webhooks
    held: int

    def families(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("greenroom_runs_waiting", "Runs READY: made, not started yet.", self.waiting)
        yield GaugeMetricFamily(
            "greenroom_runs_running", "Runs RUNNING, TIMING-OUT or ABORTING.", self.running
        )
        yield GaugeMetricFamily(
            "greenroom_oldest_waiting_run_age_seconds",
            "How long the oldest READY run has waited (0: none waits).",
            self.oldest_waiting_s,
        )
        builds = GaugeMetricFamily("greenroom_builds", "Builds by status.", labels=["status"])
        for status, count in sorted(self.builds.items()):
            builds.add_metric([status], count)
        yield builds
        workers = GaugeMetricFamily(
            "greenroom_worker_processes",
            "Worker processes alive (registered in Redis, heartbeat current), by queue.",
            labels=["queue"],
        )
        for queue, count in sorted(self.workers.items()):
            workers.add_metric([queue], count)
        yield workers
        yield GaugeMetricFamily(
            "greenroom_held_requests",
            "run-sync and waitForFinish requests this API process holds now (one API process's).",
            self.held,
        )


async def read_facts(state: AppState) -> Facts:
    async with state.db.read() as session:
        live = (await session.execute(_LIVE_RUNS)).all()
        builds = {status: count for status, count in (await session.execute(_BUILDS)).all()}
    waiting = sum(count for status, count, _ in live if status == RunStatus.READY.value)
    running = sum(count for status, count, _ in live if status != RunStatus.READY.value)
    oldest = next((first for status, _, first in live if status == RunStatus.READY.value), None)
    oldest_s = 0.0
    if oldest is not None:
        oldest_s = max(0.0, (utcnow() - _aware(oldest)).total_seconds())
    settings = state.settings
    names = {"runs": settings.queue_name, "webhooks": settings.webhook_queue_name}
    workers = await anyio.to_thread.run_sync(_alive_workers, state.redis, names)
    return Facts(waiting, running, oldest_s, builds, workers, state.waiters.waiting)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite: naive, always UTC


def _alive_workers(redis: Redis, queues: dict[str, str]) -> dict[str, int]:
    """RQ registers each worker under its queues; a worker that died without saying so stays in
    that set until RQ cleans it, but its own key (renewed by its heartbeat) expires: count those."""
    alive = {}
    for label, name in queues.items():
        keys = list(get_keys(queue=Queue(name, connection=redis), connection=redis))
        with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            alive[label] = sum(pipe.execute()) if keys else 0
    return alive
