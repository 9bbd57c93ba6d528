"""Gauges that are facts, read when /metrics is asked: from SQL (runs waiting and running, the
oldest waiting run, builds by status), from Redis (worker processes alive), and from this process
(held requests). Nothing to keep in step across processes, nothing stale after a crash.

A source that does not answer leaves its gauges out, and says so in greenroom_facts_up{source}:
the scrape itself still succeeds, with the counters, so an outage is seen rather than a gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.worker_registration import get_keys
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from server.lifespan import AppState
from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.models import Build, Run
from server.storage.runs import ACTIVE

log = logging.getLogger(__name__)

# A source slower than this is left out of the scrape (Prometheus's default scrape timeout is 10 s).
READ_TIMEOUT_S = 3.0

# Uses the index on runs.status: a few rows per live status, however many runs have ended.
_LIVE_RUNS = (
    select(Run.status, func.count(), func.min(Run.started_at))
    .where(Run.status.in_([RunStatus.READY.value, *(s.value for s in ACTIVE)]))
    .group_by(Run.status)
)
_BUILDS = select(Build.status, func.count()).group_by(Build.status)


@dataclass(frozen=True)
class RunFacts:
    waiting: int
    running: int
    oldest_waiting_s: float
    builds: dict[str, int]


@dataclass(frozen=True)
class Facts:
    sql: RunFacts | None  # None: the database did not answer
    workers: dict[str, int] | None  # by queue (runs, webhooks); None: Redis did not answer
    held: dict[str, int]  # by kind: run-sync, waitForFinish

    def families(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "greenroom_facts_up",
            "Whether the source of these gauges answered this scrape.",
            labels=["source"],
        )
        up.add_metric(["database"], int(self.sql is not None))
        up.add_metric(["redis"], int(self.workers is not None))
        yield up
        if self.sql is not None:
            yield from _sql_families(self.sql)
        if self.workers is not None:
            workers = GaugeMetricFamily(
                "greenroom_worker_processes",
                "Worker processes alive (registered in Redis, heartbeat current), by queue.",
                labels=["queue"],
            )
            for queue, count in sorted(self.workers.items()):
                workers.add_metric([queue], count)
            yield workers
        held = GaugeMetricFamily(
            "greenroom_held_requests",
            "run-sync and waitForFinish requests this API process holds now (one API process's).",
            labels=["kind"],
        )
        for kind in sorted({"run-sync", "waitForFinish", *self.held}):
            held.add_metric([kind], self.held.get(kind, 0))
        yield held


def _sql_families(facts: RunFacts) -> Iterable[Metric]:
    yield GaugeMetricFamily("greenroom_runs_waiting", "Runs READY: made, not started yet.", facts.waiting)
    yield GaugeMetricFamily("greenroom_runs_running", "Runs RUNNING, TIMING-OUT or ABORTING.", facts.running)
    yield GaugeMetricFamily(
        "greenroom_oldest_waiting_run_age_seconds",
        "How long the oldest READY run has waited (0: none waits).",
        facts.oldest_waiting_s,
    )
    builds = GaugeMetricFamily("greenroom_builds", "Builds by status.", labels=["status"])
    for status, count in sorted(facts.builds.items()):
        builds.add_metric([status], count)
    yield builds


async def read_facts(state: AppState) -> Facts:
    settings = state.settings
    names = {"runs": settings.queue_name, "webhooks": settings.webhook_queue_name}
    try:
        with anyio.fail_after(READ_TIMEOUT_S):
            sql: RunFacts | None = await _read_sql(state)
    except (SQLAlchemyError, TimeoutError) as exc:
        log.warning("metrics: the database did not answer: %r", exc)
        sql = None
    try:
        with anyio.fail_after(READ_TIMEOUT_S):
            workers: dict[str, int] | None = await anyio.to_thread.run_sync(
                _alive_workers, state.redis, names, abandon_on_cancel=True
            )
    except (RedisError, TimeoutError) as exc:
        log.warning("metrics: Redis did not answer: %r", exc)
        workers = None
    return Facts(sql, workers, dict(state.waiters.held))


async def _read_sql(state: AppState) -> RunFacts:
    async with state.db.read() as session:
        live = (await session.execute(_LIVE_RUNS)).all()
        builds = {status: count for status, count in (await session.execute(_BUILDS)).all()}
    ready = RunStatus.READY.value
    oldest = next((first for status, _, first in live if status == ready), None)
    return RunFacts(
        waiting=sum(count for status, count, _ in live if status == ready),
        running=sum(count for status, count, _ in live if status != ready),
        oldest_waiting_s=0.0 if oldest is None else max(0.0, (utcnow() - _aware(oldest)).total_seconds()),
        builds=builds,
    )


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
