"""Fair share between users: which READY run a woken worker takes, and who wakes workers.

SQL is the truth, Redis only wakes. An RQ job (`execute_run(run_id)`, job id = a run id) is a
wake-up for one worker slot, not an order to run that run: the woken worker claims, in one
statement (server/storage/limits.py CLAIM_NEXT), the READY run of its queue whose user has the
fewest active runs (ties: the oldest run), skipping users at their concurrent-runs or
running-memory limit. So a user's backlog of 500 READY runs (and their 500 jobs ahead in the FIFO)
never holds back another user: the next slot that frees takes the other user's run.

Wake-ups are never lost, because every READY run that fits its user's limits has a job behind it:
- a start (and a resurrect) enqueues one job, after its commit;
- a job that claims a run consumes one job for one run; a job that finds nothing fitting consumes a
  job that no fitting run needed (every READY run then belongs to a user at a limit);
- a run held back by a limit becomes fitting only when its user's usage falls or limits grow: when one
  of their runs ends (wake_user, after the terminal commit; on SQLite an end looks only when its user
  was at a limit before it: server/storage/limits.py wake_ids_at_end), when the sweeper ends a dead
  worker's run (its lost-jobs pass finds such a run fitting and without a job), or when an admin
  raises the limits (server/services/limits.py). Each enqueues a job per slot freed, after its
  commit, except for a run whose own job still waits (server/queue.py not_queued: it is counted
  already);
- a job lost with Redis or a dead worker is found by the sweeper: a stale READY run that fits, whose
  own job is not waiting, while fewer jobs wait than such runs (server/sweeper/sweep.py).
A job delivered twice, or a wake-up with nothing to take, claims nothing: harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from server.queue import enqueue_run_sync, make_queue, not_queued
from server.settings import Settings
from server.storage.limits import CLAIM_LOCK, CLAIM_NEXT, defaults_of, wake_ids
from server.storage.prepared import Prepared
from worker.context import WorkerContext

log = logging.getLogger(__name__)


def claim_next(
    connection: Connection, settings: Settings, job_run_id: str, owner: str, until: datetime
) -> tuple[str, str] | None:
    """READY -> RUNNING for the fairest run of this worker's queue that fits its user's limits:
    (run id, user id), or None. Inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(CLAIM_LOCK)  # claims one at a time, so that limits hold exactly
    params = {
        "queue": settings.queue_name,
        "job_run_id": job_run_id,
        "owner": owner,
        "until": until,
        **defaults_of(settings),
    }
    row = _CLAIM_NEXT.first(connection, params)
    return None if row is None else (row[0], row[1])


# Every run's claim: prepared, on SQLite (server/storage/prepared.py).
_CLAIM_NEXT = Prepared(CLAIM_NEXT)


def wake_user(ctx: WorkerContext, user_id: str, run_ids: list[str] | None = None) -> None:
    """Call after a run of the user ended (committed): jobs for their runs that a limit held back
    (`run_ids`, when the terminal transaction read them: worker/finalize.py). Redis away: the sweeper
    enqueues them when it is back (they are READY, fit and have no job)."""
    try:
        if run_ids is None:
            with ctx.db.begin() as connection:
                run_ids = wake_ids(connection, ctx.settings, user_id)
        missing = not_queued(ctx.redis, run_ids)
        if missing:  # rarely: most ends of a run find every READY run's job still waiting
            queue = make_queue(ctx.redis, ctx.settings.queue_name)
            for run_id in missing:
                enqueue_run_sync(queue, run_id)
    except (RedisError, SQLAlchemyError) as exc:
        log.warning("could not wake the READY runs of user %s (%s); the sweeper will", user_id, exc)
