"""run_worker: one RQ SimpleWorker in this process; run_pool: N of them as child processes (forked
from one that imported them once: worker/forked.py), the machine's Apify Proxy (worker/proxy/) as
another, and the sweeper (server/sweeper/) every sweep_interval_s, when this pool holds the
deployment's sweeper lock; and, while it runs, Redis and the database closed to its sandboxed actors
(worker/sandbox/network.py).

SimpleWorker runs the job in the worker process itself (5.6 ms/job against 19 ms for a forking
Worker here); isolation comes from execute_run, which starts every actor as its own process.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import time
from types import FrameType

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from server.observability.logs import configure_logging
from server.observability.metrics import configure_metrics
from server.queue import GreenroomJob, make_queue
from server.settings import Settings
from server.sweeper.loop import Sweeping
from worker import sandbox
from worker.context import configure, dispose_context, get_context
from worker.forked import Forked, Forker
from worker.proxy.child import ProxyChild
from worker.runners.standby import standbys
from worker.sandbox.network import ServicesClosed
from worker.shutdown import GreenroomWorker, stop_request

log = logging.getLogger(__name__)

# What a stopping worker may take beyond its actor's grace: the terminal write, closing its pool.
_STOP_MARGIN_S = 15.0
# A worker that lost Redis asks again at most this far apart.
_REDIS_RETRY_MAX_S = 1.0


def new_worker(queues: list[Queue], connection: Redis) -> GreenroomWorker:
    """A worker on `queues` (from server.queue.make_queue): JSON jobs, Greenroom's functions only."""
    return GreenroomWorker(queues, connection=connection, serializer=JSONSerializer, job_class=GreenroomJob)


def run_worker(settings: Settings, *, burst: bool = False, webhooks: bool = False) -> None:
    """webhooks: take only webhook calls (a pool runs them in processes of their own, so long runs
    never hold them up); burst: take runs, builds and webhook calls until the queues are empty."""
    configure_logging(settings)
    configure(settings)
    get_context()  # engine and imports before the first job, not during it
    connection = Redis.from_url(settings.redis_url)
    names = [settings.webhook_queue_name] if webhooks else [settings.queue_name]
    if burst and not webhooks:
        names.append(settings.webhook_queue_name)
    queues = [make_queue(connection, name) for name in names]
    if not webhooks:
        standbys().enable()  # the first run's actor process, made before it comes
    try:
        while not _work(queues, connection, burst):
            # RQ's worker quits on a Redis error met outside its wait for a job (the bookkeeping of a
            # job that ended while Redis was away, a heartbeat, its start): this process waits for
            # Redis and works on as a new worker, rather than exit and be started again from cold,
            # which takes seconds on a loaded machine (and a Redis restart hits every worker at once).
            _until_redis_answers(connection)
    except StopRequested:  # told to stop while it waited for Redis
        pass
    finally:
        standbys().close()
        dispose_context()
        connection.close()


def _work(queues: list[Queue], connection: Redis, burst: bool) -> bool:
    """One RQ worker's life in this process: True when it ended as it should (burst done, told to
    stop), False when it quit on an error."""
    try:
        worker = new_worker(queues, connection)
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
    except RedisConnectionError as exc:
        log.warning("the worker lost Redis (%s); waiting for it", exc)
        return stop_request().requested_at is not None
    return burst or stop_request().requested_at is not None


def _until_redis_answers(connection: Redis) -> None:
    delay_s = 0.1
    while stop_request().requested_at is None:
        try:
            connection.ping()
            return
        except RedisConnectionError:
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, _REDIS_RETRY_MAX_S)


def run_pool(settings: Settings, processes: int) -> None:
    """Keep `processes` workers and settings.webhook_worker_processes webhook workers alive until
    SIGTERM/SIGINT, then stop them and wait."""
    webhook_children: list[Forked] = []
    children: list[Forked] = []
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A signal writes to this pipe, which ends the loop's wait at once (a sleep would go on: half a
    # second of every stop, a deploy's or a test's).
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    configure_logging(settings)
    # Before the children's environment is made: the workers count into this pool's directory.
    configure_metrics(settings, "workers")
    forker = Forker({**os.environ, **settings.to_env()})
    proxy = ProxyChild(settings, forker)
    sandbox.announce(settings)
    closed = None  # renewed until the workers are gone (their actors with them), then left to expire
    if settings.sandbox != "off" and isinstance(sandbox.probe(settings), sandbox.Sandbox):
        closed = ServicesClosed(settings)
        closed.start()
    configure(settings)
    ctx = get_context()
    sweeping = Sweeping(ctx)
    next_sweep = time.monotonic()
    while not stopping:
        proxy.keep_alive()  # first: the first runs' actors find it listening
        children = [c for c in children if c.poll() is None]
        while len(children) < processes:
            children.append(forker.start("worker"))
        webhook_children = [c for c in webhook_children if c.poll() is None]
        while len(webhook_children) < settings.webhook_worker_processes:
            webhook_children.append(forker.start("webhooks"))
        if time.monotonic() >= next_sweep:
            sweeping()
            next_sweep = time.monotonic() + settings.sweep_interval_s
        if select.select([woken], [], [], min(0.5, settings.sweep_interval_s))[0]:
            os.read(woken, 64)
    sweeping.close()  # the next sweeper (another pool, an API process) takes over at once
    dispose_context()
    # Each worker finishes its job: its actor has worker_stop_grace_s to end, is then stopped
    # (kill_grace_s), and the run is ended (worker/shutdown.py). Only a worker stuck past all that
    # is killed, and its run is left to the sweepers of other pools.
    children += webhook_children  # a webhook call ends by its own deadline (webhook_timeout_s)
    children += proxy.children()  # its tunnels end with it; the runs' actors are being stopped
    for child in children:
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + settings.worker_stop_grace_s + settings.kill_grace_s + _STOP_MARGIN_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if closed is not None:
        closed.stop()
