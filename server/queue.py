"""The RQ adapter. The server enqueues by dotted path and never imports worker/.

Jobs are JSON (RQ's default, pickle, would run code as a worker loads a job), and a worker calls
only the functions named in JOB_FUNCTIONS: a job someone else put in the queue can name nothing
else, and those functions act only on a run, build or dispatch that SQL says is theirs to take.
"""

from __future__ import annotations

import functools
import json
import logging
import zlib
from typing import Any

import anyio.to_thread
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import get_call_string, now, utcformat

from server.quick_threads import QuickThreads

log = logging.getLogger(__name__)

EXECUTE_RUN = "worker.jobs.execute_run"
EXECUTE_BUILD = "worker.builds.execute_build"
DELIVER_DISPATCH = "worker.webhooks.delivery.deliver"
JOB_FUNCTIONS = frozenset({EXECUTE_RUN, EXECUTE_BUILD, DELIVER_DISPATCH})


class ForbiddenJob(Exception):
    """Raised when a job names a function Greenroom does not run as a job."""


_resolved: dict[str, Any] = {}


class GreenroomJob(Job):
    """A job that can call only JOB_FUNCTIONS."""

    @property
    def func(self):  # type: ignore[no-untyped-def]
        name = self.func_name
        if name not in JOB_FUNCTIONS or self.instance is not None:
            raise ForbiddenJob(f"job {self.id} names {name!r}, which is not a Greenroom job")
        # Resolved once per process: RQ imports the dotted path again for every job.
        found = _resolved.get(name)
        if found is None:
            found = _resolved[name] = super().func
        return found


def make_queue(connection: Redis, name: str) -> Queue:
    """Every queue Greenroom enqueues to or works on is made here (its serializer and job class)."""
    return Queue(name, connection=connection, serializer=JSONSerializer, job_class=GreenroomJob)


def _enqueue(
    queue: Queue, function: str, job_ids: list[str], args: list[str], kwargs: dict[str, Any] | None = None
) -> int:
    """Jobs of `function` (args[i] for job_ids[i]) in one MULTI/EXEC round trip; the jobs waiting in
    the queue once they are in it, theirs included.

    Each job is the hash RQ's enqueue_call writes, field for field (tests/test_queue_jobs.py holds
    them side by side), and the same commands, less its second write of the status. Made here,
    without RQ's Job and its to_dict, for a hash that differs between two runs in its id and times:
    a run's enqueue cost 215-221 us of CPU through enqueue_call, 155-163 so (bench/enqueue.py).

    timeout=-1: the job enforces its own deadline (a run's timeout, GREENROOM_BUILD_TIMEOUT_S, a
    webhook call's), not RQ's 180 s default."""
    stamp = utcformat(now())
    with queue.connection.pipeline() as pipeline:
        pipeline.sadd(Queue.redis_queues_keys, queue.key)
        for job_id, arg in zip(job_ids, args, strict=True):
            pipeline.hset(
                Job.key_for(job_id), mapping=_job_hash(queue.name, function, arg, stamp, kwargs or {})
            )
            pipeline.rpush(queue.key, job_id)
        pipeline.llen(queue.key)
        waiting: int = pipeline.execute()[-1]
        return waiting


def _job_hash(queue_name: str, function: str, arg: str, stamp: str, kwargs: dict[str, Any]) -> dict[Any, Any]:
    return {
        "created_at": stamp,
        # JSONSerializer.dumps, as RQ makes a job's data.
        "data": zlib.compress(json.dumps((function, None, (arg,), kwargs)).encode()),
        "success_callback_name": "",
        "failure_callback_name": "",
        "stopped_callback_name": "",
        "started_at": "",
        "ended_at": "",
        "last_heartbeat": "",
        "worker_name": "",
        "group_id": "",
        "origin": queue_name,
        "description": get_call_string(function, (arg,), kwargs, _DESCRIPTION_CHARS) or "",
        "enqueued_at": stamp,
        "timeout": -1,
        "result_ttl": 600,
        "failure_ttl": 86400,
        "status": JobStatus.QUEUED.value,
    }


_DESCRIPTION_CHARS = 75  # RQ's Job.get_call_string


def enqueue_run_sync(queue: Queue, run_id: str, *, announce: bool = True) -> int:
    """The jobs waiting in the queue once the run's is in it. `announce=False`: no one waits for the
    run's claim, so its worker need not publish run-started (worker/jobs.py execute_run)."""
    return _enqueue(queue, EXECUTE_RUN, [run_id], [run_id], None if announce else {"announce": False})


# The jobs' statuses ("" for a job that is gone), KEYS being their hashes: one command, however many.
_STATUSES = """
local statuses = {}
for i, key in ipairs(KEYS) do
  statuses[i] = redis.call('HGET', key, 'status') or ''
end
return statuses
"""


def not_queued(connection: Redis, run_ids: list[str]) -> list[str]:
    """The runs among run_ids whose own job is not waiting in a queue (one round trip).

    A wake-up (worker/fair.py) needs a new job only for a run that became claimable and has none
    waiting: a run whose job still waits is counted already. Without this, every end of a run of a
    user with READY runs enqueued their job again (up to their free slots, 24 by default) and the
    workers spent their time taking wake-ups that found nothing to claim. One script rather than a
    pipeline of HGETs: a run's end asks about as many as 24 jobs, and the client's work per command
    was most of that check's cost (bench/profile.py: 4% of the pool's samples under 50 clients).
    """
    if not run_ids:
        return []
    statuses = connection.register_script(_STATUSES)(keys=[Job.key_for(run_id) for run_id in run_ids])
    return [run_id for run_id, status in zip(run_ids, statuses, strict=True) if status != b"queued"]


# The API's enqueuing threads (AppState.enqueuing): an enqueue is one round trip to Redis.
ENQUEUERS = 4


async def enqueue_run(queue: Queue, run_id: str, calls: QuickThreads, *, announce: bool = True) -> int:
    """Call only after the run row is committed: the worker must never see a missing run. The jobs
    waiting in the queue once the run's is in it (0: Redis was away).

    Redis away is not the caller's failure: the run is committed, and a worker pool's sweeper
    (server/sweeper/) enqueues a READY run that has no job once Redis is back.
    """
    try:
        return await calls.run(functools.partial(enqueue_run_sync, queue, run_id, announce=announce))
    except RedisError as exc:
        log.warning("run %s is committed but not enqueued (%s); the sweeper will enqueue it", run_id, exc)
        return 0


def enqueue_builds_sync(queue: Queue, build_ids: list[str]) -> None:
    _enqueue(queue, EXECUTE_BUILD, build_ids, build_ids)


async def enqueue_builds(queue: Queue, build_ids: list[str]) -> None:
    """Call only after the build rows are committed."""
    if build_ids:
        await anyio.to_thread.run_sync(enqueue_builds_sync, queue, build_ids)


def dispatch_job_id(dispatch_id: str, claims: int) -> str:
    """The RQ job that makes a dispatch's next call: one per lease taken, so the sweeper can tell a
    job still waiting for a worker from one lost with a dead worker or with Redis's data."""
    return f"{dispatch_id}-{claims}"


def enqueue_dispatches_sync(queue: Queue, dispatches: list[tuple[str, int]]) -> None:
    """(dispatch id, claims so far) pairs."""
    job_ids = [dispatch_job_id(dispatch_id, claims) for dispatch_id, claims in dispatches]
    _enqueue(queue, DELIVER_DISPATCH, job_ids, [dispatch_id for dispatch_id, _ in dispatches])


def enqueue_new_dispatches_sync(queue: Queue, dispatch_ids: list[str]) -> None:
    """Call only after the dispatches are committed. Redis away: the sweeper enqueues them later."""
    try:
        enqueue_dispatches_sync(queue, [(dispatch_id, 0) for dispatch_id in dispatch_ids])
    except RedisError as exc:
        log.warning("dispatches %s are committed but not enqueued (%s); the sweeper will", dispatch_ids, exc)


async def enqueue_new_dispatches(queue: Queue, dispatch_ids: list[str]) -> None:
    if dispatch_ids:
        await anyio.to_thread.run_sync(enqueue_new_dispatches_sync, queue, dispatch_ids)
