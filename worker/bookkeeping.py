"""RQ's bookkeeping of a job, cut to what Greenroom reads of it: one pipeline before, one after.

A job's outcome lives in SQL (its run, build or dispatch), so RQ's record of it is only asked three
things: whether a job still waits (its hash's `status`: worker/fair.py, the sweeper), whether a
worker took it off the queue and died (the queue's intermediate list: the sweeper), and which workers
are alive (their hash and heartbeat: the console's system page). RQ's own path also writes an
execution record, the started and finished registries, a result stream, the worker's counters and a
watched transaction for dependents: about 40 Redis commands in 8 round trips per job, a fifth of a
worker's CPU on a no-op run (bench/versus.py). A job that raises still goes through RQ's failure
handling (its failed registry and result, which `rq` tools show), as before.

Lean cuts RQ's work loop the same way: it beat four times a job (twice while dequeuing, in the
suspension check, after the job) and checked for `rq suspend` before each; now at most once a second
each, and the worker's state is written only when it changes.
"""

from __future__ import annotations

import time

from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.utils import now, utcformat
from rq.worker import BaseWorker, WorkerStatus


def begin(worker: BaseWorker, job: Job, queue: Queue) -> None:
    """Started: the job's status, off the intermediate list, the worker busy with it."""
    started = now()
    job.started_at = job.last_heartbeat = started
    job.worker_name = worker.name
    job._status = JobStatus.STARTED
    pipeline = worker.connection.pipeline(transaction=False)
    pipeline.hset(
        job.key,
        mapping={
            "status": JobStatus.STARTED.value,
            "started_at": utcformat(started),
            "last_heartbeat": utcformat(started),
            "worker_name": worker.name,
        },
    )
    pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
    pipeline.hset(worker.key, mapping={"state": WorkerStatus.BUSY.value, "current_job": job.id})
    pipeline.execute()
    worker._state = WorkerStatus.BUSY


def finished(worker: BaseWorker, job: Job) -> None:
    """Ended well: the job's status (kept for its result_ttl), the worker idle again."""
    ended = now()
    job.ended_at = ended
    job._status = JobStatus.FINISHED
    pipeline = worker.connection.pipeline(transaction=False)
    pipeline.hset(job.key, mapping={"status": JobStatus.FINISHED.value, "ended_at": utcformat(ended)})
    ttl = job.get_result_ttl(worker.default_result_ttl)
    if ttl is not None and ttl > 0:
        pipeline.expire(job.key, ttl)
    pipeline.hset(worker.key, "state", WorkerStatus.IDLE.value)
    pipeline.hdel(worker.key, "current_job")
    pipeline.execute()
    worker._state = WorkerStatus.IDLE


# The worker's hash lives worker_ttl + 60 s (8 minutes by default) from its last beat; RQ's own
# beats while a job runs come no oftener than that. Seen by the console's system page only.
BEAT_EVERY_S = 1.0
# How late a worker may hear `rq suspend`: it takes at most one more job meanwhile.
SUSPENSION_CHECK_EVERY_S = 1.0


class Lean(SimpleWorker):
    """RQ's work loop with its per-job round trips cut (see the module docstring)."""

    _beaten_at = -BEAT_EVERY_S
    _suspension_checked_at = -SUSPENSION_CHECK_EVERY_S

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None:  # part of another round trip already
            super().heartbeat(timeout, pipeline)
            return
        at = time.monotonic()
        if timeout is None and at - self._beaten_at < BEAT_EVERY_S:
            return
        self._beaten_at = at
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(timeout, batch)
            batch.execute()

    def check_for_suspension(self, burst: bool) -> None:
        at = time.monotonic()
        if at - self._suspension_checked_at < SUSPENSION_CHECK_EVERY_S:
            return
        self._suspension_checked_at = at
        super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and state == self._state:  # begin() and finished() wrote it
            return
        super().set_state(state, pipeline)
