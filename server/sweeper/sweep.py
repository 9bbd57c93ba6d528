"""The sweeper: what a dead worker or a lost job left behind, put right; and old runs and storages
deleted (retention.py). Run by every worker pool and every API process, one at a time (lock.py).

- A run (or build) whose lease expired: its worker died (or the machine did). It ends FAILED with a
  status message naming the cause, or, under restartOnError, goes back to READY and is enqueued
  again; then its waiters are woken.
- A run (or build) still READY some time after it was created whose RQ job is gone (Redis was down
  when the API enqueued it, Redis lost its data, a worker died between taking the job and claiming
  the run): enqueued again. A job delivered twice is harmless: the claim is a compare-and-set. A
  run held back by its user's limits is not lost (worker/fair.py says who wakes it), and runs that
  share the jobs waiting are not lost either (_unwoken).

SQL decides every status, by compare-and-set; RQ's registries are only asked whether a job is
still waiting. The lock only spares the database the same work done twice: two sweepers at once (a
lock that lapsed under a slow sweep) still end each run once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy.exc import SQLAlchemyError

from server.events import publish_run_finished
from server.observability.metrics import instruments
from server.queue import enqueue_builds_sync, enqueue_new_dispatches_sync, enqueue_run_sync, make_queue
from server.run_options import MAX_RESTARTS
from server.schedules.firing import fire_due
from server.services.build_finish import finish_build
from server.standby.idle import stop_idle
from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.leases import (
    EXPIRED_BUILDS,
    EXPIRED_RUNS,
    REAP_RUN,
    REQUEUE_RUN,
    STALE_READY_BUILDS,
)
from server.storage.limits import STALE_CLAIMABLE_RUNS, defaults_of
from server.storage.runs import DELETE_RUN_TOKENS
from server.sweeper.context import SweepContext
from server.sweeper.dispatches import enqueue_due
from server.sweeper.retention import Retention
from server.webhooks.events import RUN_EVENTS, fire_run_sync

log = logging.getLogger(__name__)

DEAD_WORKER = "The worker running this Actor run stopped (no lease renewal for {lease_s:g} s); the run failed"
# At most this many stale READY rows are checked per sweep: a long backlog is not a lost one.
_READY_BATCH = 500
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


@dataclass
class Swept:
    failed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    builds_failed: list[str] = field(default_factory=list)
    builds_requeued: list[str] = field(default_factory=list)
    scheduled: list[str] = field(default_factory=list)  # runs started by due schedules
    idle_standby: list[str] = field(default_factory=list)  # standby runs stopped for idleness


@dataclass
class Taken:
    """What the previous sweep saw in a worker's hands: the job ids in the queue's intermediate list,
    and the jobs started while their run or build was still READY."""

    job_ids: frozenset[str] = frozenset()
    started: frozenset[str] = frozenset()


def sweep(ctx: SweepContext, queue: Queue, *, judge_leases: bool, taken: Taken) -> Swept:
    swept = Swept()
    if judge_leases:
        _expired_runs(ctx, queue, swept)
        _expired_builds(ctx, swept)
    _lost_jobs(ctx, queue, swept, taken)
    for run_id in (*swept.failed, *swept.builds_failed):
        publish_run_finished(ctx.redis, ctx.settings.redis_prefix, run_id)
    # Then webhook calls that are due (retries, and calls whose job or worker was lost).
    enqueue_due(ctx)
    for name, ids in vars(swept).items():
        if ids:
            log.warning("sweeper: %s %s", name, ids)
    return swept


class Sweeper:
    """sweep() every time it is called; after the database was away, leases are judged again only
    one lease period later. No worker could renew its lease during the outage, and the workers that
    are alive need a renewal (or, for a run whose actor ended meanwhile, their terminal write: see
    worker/outage.py) before their runs may be taken for a dead worker's."""

    def __init__(self, ctx: SweepContext, queue: Queue):
        self._ctx = ctx
        self._queue = queue
        self._judge_leases_from = 0.0
        self._taken = Taken()
        self._retention = Retention(ctx)

    def __call__(self) -> Swept | None:
        settings = self._ctx.settings
        try:
            judge_leases = time.monotonic() >= self._judge_leases_from
            swept = sweep(self._ctx, self._queue, judge_leases=judge_leases, taken=self._taken)
            swept.scheduled += fire_due(self._ctx, self._queue)  # due schedules (server/schedules/)
            swept.idle_standby += stop_idle(self._ctx)  # idle standby runs (server/standby/)
            self._retention()  # old runs and unnamed storages (retention.py)
            return swept
        except SQLAlchemyError as exc:
            self._judge_leases_from = time.monotonic() + settings.run_lease_s + settings.sweep_interval_s
            log.warning("sweep failed: %s", exc)
        except RedisError as exc:  # Redis is away: the next sweep tries again
            log.warning("sweep failed: %s", exc)
        return None


def _expired_runs(ctx: SweepContext, queue: Queue, swept: Swept) -> None:
    now = utcnow()
    message = DEAD_WORKER.format(lease_s=ctx.settings.run_lease_s)
    dispatches: list[str] = []
    origins: list[str] = []
    with ctx.db.begin() as connection:
        for run_id, options, stats, origin in connection.execute(EXPIRED_RUNS, {"now": now}).all():
            restarts = int((stats or {}).get("restartCount", 0))
            if (options or {}).get("restartOnError") and restarts < MAX_RESTARTS:
                params = {"run_id": run_id, "now": now, "stats": {**stats, "restartCount": restarts + 1}}
                if connection.execute(REQUEUE_RUN, params).rowcount:
                    swept.restarted.append(run_id)
            elif connection.execute(REAP_RUN, {"run_id": run_id, "now": now, "message": message}).rowcount:
                connection.execute(DELETE_RUN_TOKENS, {"run_id": run_id})
                dispatches += fire_run_sync(connection, RUN_EVENTS[RunStatus.FAILED], run_id)
                swept.failed.append(run_id)
                origins.append(origin)
    # Committed: now the restarted runs can be taken by a worker, and the webhooks be called; the
    # runs failed here are counted as finished (their dead worker never counted them).
    for origin in origins:
        instruments().runs_finished.labels(RunStatus.FAILED.value, origin).inc()
    for run_id in swept.restarted:
        enqueue_run_sync(queue, run_id)
    if dispatches:
        enqueue_new_dispatches_sync(make_queue(ctx.redis, ctx.settings.webhook_queue_name), dispatches)


def _expired_builds(ctx: SweepContext, swept: Swept) -> None:
    with ctx.db.begin() as connection:
        rows = [dict(row._mapping) for row in connection.execute(EXPIRED_BUILDS, {"now": utcnow()})]
    webhooks = make_queue(ctx.redis, ctx.settings.webhook_queue_name)
    for row in rows:
        # As the build's own worker would end it: FAILED, and the tag stays on the last good build.
        if finish_build(ctx.db, webhooks, row, RunStatus.FAILED, {}) is not None:
            swept.builds_failed.append(row["id"])


def _lost(queue: Queue, job_ids: list[str], before: Taken, now: Taken) -> list[str]:
    """The jobs that will not reach a worker by themselves: gone, ended, or taken off the queue by a
    worker that died before starting them. A worker moves a job to the queue's intermediate list as
    it takes it, out of it as it starts it, and claims the run a moment later. A job still in that
    list, or started while its run is still READY, at two sweeps in a row is lost; at one, a live
    worker may be between those steps (CI saw such a job enqueued twice, at each of them: this
    sweep's READY runs are read before it looks at Redis). RQ would fail a job left in that list only
    after a minute, at its next maintenance, every 10 minutes. Such a job leaves that list here, so
    that once enqueued again it counts as waiting. `now` gets the jobs seen started here."""
    lost = []
    for job_id in job_ids:
        if job_id in now.job_ids:
            if job_id not in before.job_ids:
                continue
            queue.intermediate_queue.remove(job_id)
        else:
            status = _status(queue, job_id)
            if status in _WAITING:
                continue
            if status == JobStatus.STARTED and job_id not in before.started:
                now.started |= {job_id}
                continue
        lost.append(job_id)
    return lost


def _status(queue: Queue, job_id: str) -> JobStatus | None:
    try:
        return Job.fetch(job_id, connection=queue.connection).get_status()
    except NoSuchJobError:
        return None


def _lost_jobs(ctx: SweepContext, queue: Queue, swept: Swept, taken: Taken) -> None:
    before = utcnow() - timedelta(seconds=ctx.settings.orphan_after_s)
    with ctx.db.begin() as connection:
        # Only runs that fit their user's limits: one held back by a limit has no job on purpose.
        params = {"before": before, "queue": ctx.settings.queue_name, **defaults_of(ctx.settings)}
        runs = connection.execute(STALE_CLAIMABLE_RUNS.limit(_READY_BATCH), params).scalars().all()
        builds = (
            connection.execute(STALE_READY_BUILDS.limit(_READY_BATCH), {"before": before}).scalars().all()
        )
    now = Taken(frozenset(queue.intermediate_queue.get_job_ids()))
    lost_runs = _lost(queue, list(runs), taken, now)
    lost_builds = _lost(queue, list(builds), taken, now)
    # Taken out of that list here: if it is back there at the next sweep, a live worker took it again.
    taken.job_ids = now.job_ids.difference(lost_runs, lost_builds)
    taken.started = now.started
    for run_id in _unwoken(queue, lost_runs, len(runs)):
        enqueue_run_sync(queue, run_id)
        swept.requeued.append(run_id)
    enqueue_builds_sync(queue, lost_builds)
    swept.builds_requeued.extend(lost_builds)


def _unwoken(queue: Queue, lost: list[str], fitting: int) -> list[str]:
    """Of the stale fitting READY runs whose own job is not waiting (`lost`), those that need one: as
    many as there are fitting runs beyond the jobs waiting. A job claims the fairest run, not its
    own (worker/fair.py), so a run whose job went to another run is not lost while a job waits."""
    return lost[: max(0, fitting - queue.count)]
