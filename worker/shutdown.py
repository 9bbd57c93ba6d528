"""A worker told to stop (SIGTERM or SIGINT: a deploy, Ctrl-C): the run it executes gets a grace period.

RQ answers SIGTERM with a warm shutdown: it takes no new job and waits for the current one however
long it takes, so a process manager ends up SIGKILLing the worker and the run would be failed only
when its lease runs out. GreenroomWorker keeps the warm shutdown and also tells the job: the
supervisor lets the actor go on for GREENROOM_WORKER_STOP_GRACE_S, then stops it (SIGTERM, then
SIGKILL) and the run is ended explicitly: FAILED, or back in the queue under restartOnError
(`hand_back`). A second signal ends the grace at once; a third is RQ's cold shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from types import FrameType
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.utils import now
from rq.worker import WorkerStatus

from server.queue import enqueue_run_sync, make_queue
from server.run_options import MAX_RESTARTS
from server.storage.leases import HAND_BACK_RUN
from server.storage.runs import DELETE_RUN_TOKENS
from worker import bookkeeping
from worker.context import WorkerContext
from worker.logs import LogWriter
from worker.outage import until_written
from worker.runners.standby import standbys

log = logging.getLogger(__name__)

STOPPED = (
    "The worker running this Actor run was stopped, and the run did not finish within the "
    "{grace_s:g} s it was given; the run failed"
)
# Signals closer together than this are one request (Ctrl-C reaches the pool and its children, and
# the pool passes it on).
_REPEAT_S = 1.0


class StopRequest:
    """Process-wide: a pipe that becomes readable each time the worker is told to stop."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self.requested_at: float | None = None  # time.monotonic() of the first request
        self._last_at = 0.0
        self.count = 0

    def fileno(self) -> int:
        return self._read_fd

    def request(self) -> None:
        """Called from a signal handler: only counts and writes a byte."""
        now = time.monotonic()
        if self.count and now - self._last_at < _REPEAT_S:
            return
        self._last_at = now
        self.count += 1
        if self.requested_at is None:
            self.requested_at = now
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"!")

    def stop_at(self, grace_s: float) -> float | None:
        """When the running actor must be stopped (a monotonic time): the grace after the first
        request, or now after a second one; None before any. Empties the pipe, so that the next
        request wakes the caller again."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 64):
                pass
        if self.requested_at is None:
            return None
        return self.requested_at + grace_s if self.count == 1 else time.monotonic()


_current: tuple[int, StopRequest] | None = None


def stop_request() -> StopRequest:
    """This process's StopRequest (a forked child gets its own)."""
    global _current
    if _current is None or _current[0] != os.getpid():
        _current = (os.getpid(), StopRequest())
    return _current[1]


class GreenroomWorker(bookkeeping.Lean, SimpleWorker):
    """RQ's SimpleWorker whose stop signals also reach the job it runs (see the module docstring),
    and whose bookkeeping of a job is only what Greenroom reads of it (worker/bookkeeping.py)."""

    # Waiting for a job with Redis away, RQ asks again after 1 s, then twice as long each time, up to
    # 60 s: a worker could sit out most of a minute after Redis came back. Every second at most.
    max_connection_wait_time = 1.0
    _between_jobs = False  # making the next run's standby (see _shutdown)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        stop_request().request()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def execute_job(self, job: Job, queue: Queue) -> None:
        """RQ's SimpleWorker.execute_job with the bookkeeping Greenroom reads (worker/bookkeeping.py)."""
        bookkeeping.begin(self, job, queue)
        try:
            job.func(*job.args, **job.kwargs)
        except BaseException:  # as RQ's perform_job: the job failed, the worker goes on
            job.ended_at = now()
            self.handle_exception(job, *sys.exc_info())
            self.handle_job_failure(job=job, queue=queue, exc_string=traceback.format_exc())
            self.set_state(WorkerStatus.IDLE)
        else:
            bookkeeping.finished(self, job)
        if stop_request().requested_at is not None:
            return  # no next run: its standby would only be made to be killed (run_worker closes them)
        # Between jobs, off any run's path: the next run's actor process (worker/runners/standby.py).
        self._between_jobs = True
        try:
            standbys().refill()
        finally:
            self._between_jobs = False

    def _shutdown(self) -> None:
        """RQ's answer to a stop: a busy worker stops after its job; an idle one is waiting for a job,
        and StopRequested is raised from the signal handler to break that wait. Between jobs the
        worker is idle to RQ, and the exception landed in the standby's making, whose error handling
        took it for a failed fork: the worker went back to waiting for a job until its pool killed it
        19 s later (seen in the suite's teardowns), or the fork was cut short. It stops once the
        standby is made instead."""
        if self._between_jobs:
            self._stop_requested = True
            return
        super()._shutdown()  # type: ignore[no-untyped-call]

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        stop = stop_request()
        before = stop.count
        stop.request()
        if stop.count == before:  # the same request arriving twice
            return
        if stop.count == 2 and self.get_state() == WorkerStatus.BUSY:
            return  # the job stops its actor now and ends the run; then the worker exits
        super().request_force_stop(signum, frame)


def hand_back(
    ctx: WorkerContext,
    run_id: str,
    owner: str,
    options: dict[str, Any],
    stats: dict[str, Any],
    run_log: LogWriter,
) -> bool:
    """restartOnError: put the run this attempt holds back in the queue for another worker. False
    if it may not (no restartOnError, no restarts left) or is no longer this attempt's: the caller
    then ends it."""
    restarts = int(stats.get("restartCount", 0))
    if not options.get("restartOnError") or restarts >= MAX_RESTARTS:
        return False
    run_log.line("[greenroom] restartOnError: the run goes back to the queue, for another worker.")
    # Written before the run is handed back: the next attempt appends to the same log.
    until_written(lambda: run_log.flush(strict=True), f"the log of run {run_id}")
    params = {"run_id": run_id, "owner": owner, "stats": {**stats, "restartCount": restarts + 1}}
    with ctx.db.begin() as connection:
        if connection.execute(HAND_BACK_RUN, params).rowcount != 1:
            return False
        # The stopped actor's token goes with it; the next attempt gets its own.
        connection.execute(DELETE_RUN_TOKENS, {"run_id": run_id})
    # Committed: now it can be taken. Redis away: the sweeper enqueues a READY run with no job.
    try:
        enqueue_run_sync(make_queue(ctx.redis, ctx.settings.queue_name), run_id)
    except RedisError as exc:
        log.warning("run %s is back to READY but not enqueued (%s); the sweeper will enqueue it", run_id, exc)
    return True
