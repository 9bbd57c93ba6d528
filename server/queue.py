"""The RQ adapter. The server enqueues by dotted path and never imports worker/."""

from __future__ import annotations

import anyio.to_thread
from redis import Redis
from rq import Queue

EXECUTE_RUN = "worker.jobs.execute_run"


def make_queue(connection: Redis, name: str) -> Queue:
    return Queue(name, connection=connection)


def enqueue_run_sync(queue: Queue, run_id: str) -> None:
    # job_timeout=-1: the worker's supervisor enforces the run's own timeout, not RQ's 180 s default.
    queue.enqueue_call(
        EXECUTE_RUN, args=(run_id,), job_id=run_id, timeout=-1, result_ttl=600, failure_ttl=86400
    )


async def enqueue_run(queue: Queue, run_id: str) -> None:
    """Call only after the run row is committed: the worker must never see a missing run."""
    await anyio.to_thread.run_sync(enqueue_run_sync, queue, run_id)
