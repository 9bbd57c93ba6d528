"""run_worker: one RQ SimpleWorker in this process; run_pool: N of them as child processes.

SimpleWorker runs the job in the worker process itself (5.6 ms/job against 19 ms for a forking
Worker here); isolation comes from execute_run, which starts every actor as its own process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from redis import Redis
from rq import Queue, SimpleWorker

from server.settings import Settings
from worker.context import configure, dispose_context, get_context

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    configure(settings)
    get_context()  # engine and imports before the first job, not during it
    connection = Redis.from_url(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    try:
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
    finally:
        dispose_context()
        connection.close()


def run_pool(settings: Settings, processes: int) -> None:
    """Keep `processes` workers alive until SIGTERM/SIGINT, then stop them and wait."""
    env_args = [sys.executable, "-m", "worker"]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    env = {**os.environ, **settings.to_env()}
    while not stopping:
        children = [c for c in children if c.poll() is None]
        while len(children) < processes:
            children.append(subprocess.Popen(env_args, env=env))
        time.sleep(0.5)
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
