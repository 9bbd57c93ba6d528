"""Webhook calls that are due, queued by the sweeper: retries (a dispatch's next call waits in SQL,
not in Redis), and calls whose job was lost with Redis's data or with a worker that died mid-call
(worker/webhooks/delivery.py makes the calls)."""

from __future__ import annotations

from redis import Redis
from rq.job import Job

from server.queue import dispatch_job_id, enqueue_dispatches_sync, make_queue
from server.storage.ids import utcnow
from server.storage.webhooks import DUE_DISPATCHES
from server.sweeper.context import SweepContext

_DUE_BATCH = 500
_WAITING = {b"queued", b"deferred", b"scheduled"}


def enqueue_due(ctx: SweepContext) -> list[str]:
    """Queue every dispatch whose call is due, that no worker holds, and whose job is not waiting in
    Redis already (a retry, or a job that was lost)."""
    with ctx.db.begin() as connection:
        due = connection.execute(DUE_DISPATCHES.limit(_DUE_BATCH), {"now": utcnow()}).all()
    if not due:
        return []
    redis: Redis = ctx.redis
    with redis.pipeline(transaction=False) as pipe:
        for dispatch_id, claims in due:
            pipe.hget(Job.key_for(dispatch_job_id(dispatch_id, claims)), "status")
        statuses = pipe.execute()
    missing = [
        (d, claims) for (d, claims), status in zip(due, statuses, strict=True) if status not in _WAITING
    ]
    enqueue_dispatches_sync(make_queue(redis, ctx.settings.webhook_queue_name), missing)
    return [dispatch_id for dispatch_id, _ in missing]
