"""run-sync benchmark: Greenroom's POST /v2/actor-tasks/:id/run-sync beside bare RQ on the same Redis.

    .venv/bin/python bench/run_sync.py [--requests 200] [--concurrency 20] [--workers 2]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/8]

It starts its own Greenroom (`server.cli serve` and `server.cli worker --processes W`), measures
through real HTTP on loopback, stops everything it started, and prints a table. It is not a test:
it checks nothing but that every request succeeded.

Scenarios, each measured sequentially (one client) and with C concurrent clients:
  - bare RQ: enqueue a no-op function, W SimpleWorker processes run it, the client blocks on
    `job.latest_result(timeout)` (one XREAD BLOCK on the job's result stream; no polling);
  - Greenroom run-sync of a task whose actor is a no-op PYTHON_CALLABLE;
  - Greenroom run-sync of a task whose actor is a no-op SOURCE_FILES process (`main.py`: `pass`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from redis import Redis
from rq import Queue
from rq.results import Result

if __package__ in (None, ""):  # run as `python bench/run_sync.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import (
    Setup,
    api_client,
    child_env,
    create_actor,
    greenroom_settings,
    nearest_rank,
    setup,
    software,
    start_greenroom,
    wait_for_workers,
)

# Dotted paths into bench/noop.py: the workers import it, this process never does (the measuring
# process should not load what it measures).
NOOP_CALLABLE = "bench.noop:noop"
NOOP_JOB = "bench.noop.noop_job"
# The no-op actors' versions (bench/compare.py measures the same two).
NOOP_VERSIONS: dict[str, dict[str, Any]] = {
    "callable": {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE},
    "process": {
        "sourceType": "SOURCE_FILES",
        "sourceFiles": [{"name": "main.py", "format": "TEXT", "content": "pass\n"}],
    },
}
REQUEST_TIMEOUT_S = 60
MAX_ERRORS = 10

# One request of a scenario: returns on success, raises on anything else.
Call = Callable[[], None]
# Opens one client (an HTTP connection, a Redis queue handle) and yields its Call.
Caller = Callable[[], contextlib.AbstractContextManager[Call]]


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass(frozen=True)
class Measurement:
    scenario: str
    clients: int
    latencies_s: list[float]
    elapsed_s: float
    errors: int
    first_error: str | None

    @property
    def n(self) -> int:
        return len(self.latencies_s)

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank: a latency that was really observed, never an interpolation."""
        return 1000 * nearest_rank(self.latencies_s, q)

    @property
    def runs_per_s(self) -> float:
        return self.n / self.elapsed_s if self.elapsed_s > 0 else 0.0


Sample = tuple[float, str | None]  # (latency in seconds, error or None)


def _timed(call: Call) -> Sample:
    start = time.perf_counter()
    try:
        call()
        error = None
    except Exception as exc:  # counted and reported: one failed request must not hide the others
        error = f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - start, error


class Tickets:
    """Hands out a scenario's requests to its clients and keeps their samples. Stops early after
    MAX_ERRORS failures: a broken stack would otherwise make every request wait out its timeout."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._errors = 0
        self._lock = threading.Lock()
        self.samples: list[Sample] = []

    def take(self) -> bool:
        with self._lock:
            if self._left == 0 or self._errors >= MAX_ERRORS:
                return False
            self._left -= 1
            return True

    def record(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)
            self._errors += sample[1] is not None

    def measurement(self, scenario: str, clients: int, elapsed_s: float) -> Measurement:
        errors = [error for _, error in self.samples if error is not None]
        return Measurement(
            scenario=scenario,
            clients=clients,
            latencies_s=[latency for latency, _ in self.samples],
            elapsed_s=elapsed_s,
            errors=len(errors),
            first_error=errors[0] if errors else None,
        )


def sequential(scenario: str, caller: Caller, requests: int, warmup: int) -> Measurement:
    tickets = Tickets(requests)
    with caller() as call:
        # Warm-up failures raise: a scenario that cannot run once is a setup error, not a number.
        for _ in range(warmup):
            call()
        start = time.perf_counter()
        while tickets.take():
            tickets.record(_timed(call))
        elapsed_s = time.perf_counter() - start
    return tickets.measurement(scenario, 1, elapsed_s)


def concurrently(scenario: str, caller: Caller, requests: int, clients: int) -> Measurement:
    """`clients` threads share `requests` tickets; the clock runs from a common start to the last answer."""
    tickets = Tickets(requests)
    # Every client connects and makes one request before the start, so connection setup is not timed.
    start_line = threading.Barrier(clients + 1, timeout=REQUEST_TIMEOUT_S)

    def client() -> float:
        try:
            with caller() as call:
                call()
                start_line.wait()
                while tickets.take():
                    tickets.record(_timed(call))
                return time.perf_counter()
        except BaseException:
            start_line.abort()  # do not leave the others waiting for a client that is gone
            raise

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        try:
            start_line.wait()
        except threading.BrokenBarrierError:
            # The client that broke the barrier has the error worth showing; the others only saw it break.
            errors = [future.exception() for future in futures]
            cause = next((e for e in errors if e and not isinstance(e, threading.BrokenBarrierError)), None)
            if cause is not None:
                raise cause from None
            raise
        start = time.perf_counter()
        ends = [future.result() for future in futures]
    return tickets.measurement(scenario, clients, max(ends) - start)


# ---------------------------------------------------------------------------------------------
# Scenarios


@contextlib.contextmanager
def rq_caller(connection: Redis, queue_name: str, tag: str) -> Iterator[Call]:
    queue = Queue(queue_name, connection=connection)

    def call() -> None:
        # The options Greenroom's server/queue.py enqueues with, so only what happens around the job differs.
        job = queue.enqueue_call(
            NOOP_JOB, job_id=f"{tag}-{uuid.uuid4().hex}", timeout=-1, result_ttl=600, failure_ttl=86400
        )
        # One XREAD BLOCK on the job's result stream: woken by the worker's XADD, no polling.
        result = job.latest_result(timeout=REQUEST_TIMEOUT_S)
        if result is None or result.type != Result.Type.SUCCESSFUL:
            raise RuntimeError(f"job {job.id}: {'no result' if result is None else result.type.name}")

    yield call


@contextlib.contextmanager
def run_sync_caller(base_url: str, token: str, task_id: str) -> Iterator[Call]:
    with api_client(base_url, token, timeout=REQUEST_TIMEOUT_S) as client:

        def call() -> None:
            response = client.post(f"/actor-tasks/{task_id}/run-sync")
            if response.status_code != 201:
                raise RuntimeError(f"run-sync answered {response.status_code}: {response.text[:200]}")

        yield call


def measure(scenario: str, caller: Caller, args: argparse.Namespace) -> list[Measurement]:
    print(f"measuring {scenario} ...", file=sys.stderr, flush=True)
    return [
        sequential(scenario, caller, args.requests, args.warmup),
        concurrently(scenario, caller, args.concurrent_requests, args.concurrency),
    ]


def bench_baseline(bench: Setup, args: argparse.Namespace) -> list[Measurement]:
    queue_name = f"{bench.tag}-rq-baseline"
    argv = [sys.executable, "-m", "bench.rq_worker", bench.redis.url, queue_name]
    procs = [bench.children.start(argv, child_env({})) for _ in range(args.workers)]
    try:
        wait_for_workers(bench.connection, queue_name, args.workers, procs)
        return measure(
            "bare RQ, no-op job", partial(rq_caller, bench.connection, queue_name, bench.tag), args
        )
    finally:
        # Stopped before Greenroom starts: the two sides never share the CPUs.
        bench.children.stop(procs)


def create_task(client: httpx.Client, name: str, version: dict[str, Any]) -> str:
    act_id = create_actor(client, name, version)
    task = client.post("/actor-tasks", json={"actId": act_id, "name": f"{name}-task"})
    task.raise_for_status()
    return str(task.json()["data"]["id"])


def bench_greenroom(bench: Setup, args: argparse.Namespace) -> list[Measurement]:
    settings = greenroom_settings(bench)
    token = bench.token
    started = start_greenroom(bench, settings, args.workers)
    try:
        with api_client(settings.api_base_url, token, timeout=30) as admin:
            callable_task = create_task(admin, "noop-callable", NOOP_VERSIONS["callable"])
            process_task = create_task(admin, "noop-process", NOOP_VERSIONS["process"])
        url = settings.api_base_url
        return [
            *measure(
                "greenroom, no-op PYTHON_CALLABLE", partial(run_sync_caller, url, token, callable_task), args
            ),
            *measure(
                "greenroom, no-op process (main.py)", partial(run_sync_caller, url, token, process_task), args
            ),
        ]
    finally:
        bench.children.stop(started)


# ---------------------------------------------------------------------------------------------
# Report


def report(header: list[tuple[str, str]], rows: list[Measurement]) -> str:
    baselines = {row.clients: row for row in rows if row.scenario.startswith("bare RQ")}
    columns = ("scenario", "clients", "n", "err", "p50 ms", "p99 ms", "runs/s", "p50 ratio", "runs/s ratio")
    table: list[tuple[str, ...]] = []
    for row in rows:
        base = baselines[row.clients]
        table.append(
            (
                row.scenario,
                str(row.clients),
                str(row.n),
                str(row.errors),
                f"{row.percentile_ms(50):.2f}",
                f"{row.percentile_ms(99):.2f}",
                f"{row.runs_per_s:.1f}",
                f"{row.percentile_ms(50) / base.percentile_ms(50):.2f}",
                f"{row.runs_per_s / base.runs_per_s:.2f}",
            )
        )
    out = table_report(header, columns, table)
    out.append(
        "ratio = this row / bare RQ with the same clients: a p50 ratio above 1 is slower, "
        "a runs/s ratio below 1 is fewer runs."
    )
    out.append("clients=1 rows: sequential requests; runs/s there is n / wall time.")
    out += [
        f"first error in {r.scenario} ({r.clients} clients): {r.first_error}" for r in rows if r.first_error
    ]
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per scenario (200)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument(
        "--concurrent-requests",
        type=int,
        help="requests per scenario in the concurrent phase (as --requests)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes, each side (2)")
    parser.add_argument(
        "--warmup", type=int, default=20, help="unmeasured requests before each scenario (20)"
    )
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    if args.concurrent_requests is None:
        args.concurrent_requests = args.requests
    for name in ("requests", "concurrency", "concurrent_requests", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line("bench/run_sync.py", argv)
    # Other processes share these CPUs; the load average says how much they took.
    load_before = os.getloadavg()[0]
    with setup(args.redis_url, args.database_url) as bench:
        rows = bench_baseline(bench, args)
        rows += bench_greenroom(bench, args)
    load_after = os.getloadavg()[0]
    header = [
        ("command", command),
        ("database", bench.database_description),
        ("redis", f"{bench.redis.description} (prefix {bench.tag})"),
        ("workers", f"{args.workers} RQ SimpleWorker processes per side, run one side at a time"),
        ("baseline", "bare RQ: enqueue_call + job.latest_result(timeout) (blocking XREAD, no polling)"),
        ("clients", f"threads in one process; run-sync over httpx {httpx.__version__} keep-alive, loopback"),
        ("software", software()),
        ("load", f"1-min load average {load_before:.2f} at start, {load_after:.2f} at end"),
    ]
    print(report(header, rows), flush=True)
    return 1 if any(row.errors for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
