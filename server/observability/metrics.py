"""What the processes count: counters and histograms in prometheus_client's multiprocess mode.

Every API and worker process writes its own memory-mapped files under one directory per process
group (configure_metrics), and GET /metrics adds up all of them (scrape.py). Gauges that are facts
in SQL or Redis (runs waiting, builds by status, workers alive) are not counted here: scrape.py reads
them when asked, so they are right whichever process answers and whatever died in between.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import Counter, Histogram, values

from server.pids import alive
from server.settings import Settings

_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Runs last from milliseconds (callables) to hours (the default timeout is one).
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# run-sync and waitForFinish are held up to minutes: the top buckets say how long they were held.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def metrics_root(settings: Settings) -> Path:
    """This deployment's metric files (the Redis prefix tells deployments sharing a data dir apart)."""
    return (settings.data_dir / "metrics" / settings.redis_prefix).resolve()


def configure_metrics(settings: Settings, group: str) -> Path:
    """Called by a composition root before any instrument is used: this process and the children it
    starts count into <metrics root>/<group>-<host>-<pid>. The directories of this host's dead
    processes of the group are removed now (their counters restart from zero, which Prometheus reads
    as a reset, never as a drop); a live one's are left alone: two API processes on one host (behind
    a proxy) each keep their own, where the second used to empty the first's."""
    root, prefix = metrics_root(settings), f"{group}-{socket.gethostname()}-"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob(f"{prefix}*"):
        pid = old.name.removeprefix(prefix)
        if not pid.isdigit() or not alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    directory = root / f"{prefix}{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[_DIR_VARIABLE] = str(directory)
    return directory


@dataclass(frozen=True)
class Instruments:
    http_requests: Counter
    http_duration: Histogram
    http_refused_in_flight: Counter
    runs_started: Counter
    runs_finished: Counter
    run_duration: Histogram
    run_queue_wait: Histogram
    webhook_calls: Counter


def _note_pid() -> None:
    global _pid
    _pid = os.getpid()


def _this_pid() -> int:
    return _pid


# Kept from import on: a child forked before its first instrument must not count as its parent.
_pid = os.getpid()
os.register_at_fork(after_in_child=_note_pid)


@cache
def instruments() -> Instruments:
    """This process's instruments, made on first use. Counted into files when configure_metrics ran
    in this process or its parent, else in memory (a test calling a job in-process), unseen."""
    # prometheus_client picks memory or files when it is imported, which may be before the
    # composition root set the directory: pick again now, before the first instrument is made. In
    # files, each value asks os.getpid() at every change, to notice a fork: this process's pid is
    # kept instead, and renewed in a forked child (three system calls less per request).
    if os.environ.get(_DIR_VARIABLE):
        values.ValueClass = values.MultiProcessValue(process_identifier=_this_pid)  # type: ignore[no-untyped-call]
    else:
        values.ValueClass = values.MutexValue
    return Instruments(
        http_requests=Counter(
            "greenroom_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=None,
        ),
        http_duration=Histogram(
            "greenroom_http_request_duration_seconds",
            "Time from a request's arrival to its answer's end, by route template and method.",
            ["route", "method"],
            buckets=_HTTP_BUCKETS,
            registry=None,
        ),
        http_refused_in_flight=Counter(
            "greenroom_http_refused_in_flight",
            "Requests refused at once (429) because their caller had GREENROOM_MAX_IN_FLIGHT_PER_CALLER "
            "requests in progress and GREENROOM_MAX_QUEUED_PER_CALLER waiting on the API process.",
            registry=None,
        ),
        runs_started=Counter(
            "greenroom_runs_started",
            "Runs a worker started (claimed READY -> RUNNING), by origin.",
            ["origin"],
            registry=None,
        ),
        runs_finished=Counter(
            "greenroom_runs_finished",
            "Runs that ended (by a worker, the sweeper or an abort while READY), by status and origin.",
            ["status", "origin"],
            registry=None,
        ),
        run_duration=Histogram(
            "greenroom_run_duration_seconds",
            "Time from a worker's start of a run to its end, by terminal status.",
            ["status"],
            buckets=_RUN_BUCKETS,
            registry=None,
        ),
        run_queue_wait=Histogram(
            "greenroom_run_queue_wait_seconds",
            "Time a run waited READY, from its creation to a worker's start of it.",
            buckets=_WAIT_BUCKETS,
            registry=None,
        ),
        webhook_calls=Counter(
            "greenroom_webhook_calls",
            "Webhook calls made, by result (succeeded, failed: an answer other than 2xx or none).",
            ["result"],
            registry=None,
        ),
    )
