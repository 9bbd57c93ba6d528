"""The RQ adapter. The server enqueues by dotted path and never imports worker/."""

from __future__ import annotations

import logging

import anyio.to_thread
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

EXECUTE_RUN = "worker.jobs.execute_run"
EXECUTE_BUILD = "worker.builds.execute_build"


def make_queue(connection: Redis, name: str) -> Queue:
    return Queue(name, connection=connection)


def enqueue_run_sync(queue: Queue, run_id: str) -> None:
    # job_timeout=-1: the worker's supervisor enforces the run's own timeout, not RQ's 180 s default.
    queue.enqueue_call(
        EXECUTE_RUN, args=(run_id,), job_id=run_id, timeout=-1, result_ttl=600, failure_ttl=86400
    )


async def enqueue_run(queue: Queue, run_id: str) -> None:
    """Call only after the run row is committed: the worker must never see a missing run.

    Redis away is not the caller's failure: the run is committed, and a worker pool's sweeper
    (worker/sweeper.py) enqueues a READY run that has no job once Redis is back.
    """
    try:
        await anyio.to_thread.run_sync(enqueue_run_sync, queue, run_id)
    except RedisError as exc:
        log.warning("run %s is committed but not enqueued (%s); the sweeper will enqueue it", run_id, exc)


def enqueue_builds_sync(queue: Queue, build_ids: list[str]) -> None:
    # job_timeout=-1 as for runs: the build enforces its own timeout (GREENROOM_BUILD_TIMEOUT_S).
    for build_id in build_ids:
        queue.enqueue_call(
            EXECUTE_BUILD, args=(build_id,), job_id=build_id, timeout=-1, result_ttl=600, failure_ttl=86400
        )


async def enqueue_builds(queue: Queue, build_ids: list[str]) -> None:
    """Call only after the build rows are committed."""
    if build_ids:
        await anyio.to_thread.run_sync(enqueue_builds_sync, queue, build_ids)


DELIVER_DISPATCH = "worker.webhooks.deliver"


def dispatch_job_id(dispatch_id: str, claims: int) -> str:
    """The RQ job that makes a dispatch's next call: one per lease taken, so the sweeper can tell a
    job still waiting for a worker from one lost with a dead worker or with Redis's data."""
    return f"{dispatch_id}-{claims}"


def enqueue_dispatches_sync(queue: Queue, dispatches: list[tuple[str, int]]) -> None:
    """(dispatch id, claims so far) pairs. job_timeout=-1: a call has its own deadline
    (GREENROOM_WEBHOOK_TIMEOUT_S)."""
    for dispatch_id, claims in dispatches:
        queue.enqueue_call(
            DELIVER_DISPATCH,
            args=(dispatch_id,),
            job_id=dispatch_job_id(dispatch_id, claims),
            timeout=-1,
            result_ttl=600,
            failure_ttl=86400,
        )


def enqueue_new_dispatches_sync(queue: Queue, dispatch_ids: list[str]) -> None:
    """Call only after the dispatches are committed. Redis away: the sweeper enqueues them later."""
    try:
        enqueue_dispatches_sync(queue, [(dispatch_id, 0) for dispatch_id in dispatch_ids])
    except RedisError as exc:
        log.warning("dispatches %s are committed but not enqueued (%s); the sweeper will", dispatch_ids, exc)


async def enqueue_new_dispatches(queue: Queue, dispatch_ids: list[str]) -> None:
    if dispatch_ids:
        await anyio.to_thread.run_sync(enqueue_new_dispatches_sync, queue, dispatch_ids)
