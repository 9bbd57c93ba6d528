"""Held requests: one API process holding many run-sync and waitForFinish requests at once.

    .venv/bin/python bench/hold.py [--run-syncs 10000] [--waits 2000] [--profile DIR]
        [--database-url postgresql://...]

It starts its own Greenroom API (uvicorn, no workers: every run stays READY, so every request waits)
on a private redis-server (the embedded one: CLIENT LIST then shows this API's connections only),
raises this process's open-file limit to its hard limit (the API inherits it), and then:

  1. warms up: holds and answers a few hundred run-syncs, so caches and pools are built;
  2. holds --run-syncs POST /v2/acts/:id/run-sync (each creates its run, then waits) and --waits
     GET /v2/actor-runs/:id?waitForFinish=600 on runs created beforehand, each on its own loopback
     connection from one asyncio client; run-syncs are let in as fast as the API creates their runs;
  3. measures the API's RSS before and while holding (KB per held request), its open file
     descriptors, and Redis CLIENT LIST (connections, and how many are pub/sub);
  4. finishes every run at once (one SQL UPDATE to SUCCEEDED, then one PUBLISH per run, pipelined),
     as a burst of workers would, and measures until each held request is answered, and the API's
     CPU time meanwhile (what bounds the burst).

With --profile DIR, py-spy (`pip install py-spy`) records the API during the burst only (step 4),
and the heaviest frames are printed; the raw file stays in DIR (bench/profile.py's format).

Numbers are printed, never asserted; it exits 1 if a request was not answered as expected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import func, select, update

if __package__ in (None, ""):  # run as `python bench/hold.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, command_line
from bench.common import (
    Setup,
    api_client,
    async_api_client,
    create_actor,
    greenroom_settings,
    nearest_rank,
    private_redis,
    setup,
    software,
    start_api,
)
from bench.noop import NOOP_CALLABLE
from bench.profile import heaviest
from bench.versus import OUT_OF_THE_WAY
from server.embedded_redis import EmbeddedRedis
from server.events import finished_channel
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.ids import utcnow
from server.storage.runs import RUNS

HOLD_S = 600.0  # the API's wait limits: nothing is answered before the finish burst
WARMUP = 300
# Run-syncs sent but whose run is not created yet: more would only queue inside the API.
CREATING = 200


# ---------------------------------------------------------------------------------------------
# The API process, seen from outside


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


async def settled(pid: int, quiet_s: float = 1.0, timeout_s: float = 120) -> None:
    """Until the process used (almost) no CPU for quiet_s: it has taken in what was sent."""
    deadline = time.monotonic() + timeout_s
    last = cpu_s(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = cpu_s(pid)
        if now - last < 0.03 * quiet_s:
            return
        last = now


def redis_clients(url: str) -> tuple[int, int]:
    """(connections, pub/sub connections) on the Redis server, not counting the one asking."""
    client = Redis.from_url(url)
    try:
        me = client.client_id()
        others = [c for c in client.client_list() if int(c["id"]) != me]
    finally:
        client.close()
    return len(others), sum("P" in c["flags"] for c in others)


def increase_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------------------------------------
# Held requests: one raw HTTP/1.1 request per connection, read to its end


@dataclass
class Held:
    """Requests sent, and their answers: (monotonic time, status) in the order they came."""

    sent: int = 0
    answers: list[tuple[float, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def http_request(method: str, target: str, host: str, token: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _one(held: Held, host: str, port: int, request: bytes, connected: asyncio.Semaphore) -> None:
    try:
        async with connected:  # a few at a time through connect(): the listen backlog is finite
            reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        data = await reader.read()  # the server closes the connection after its answer
        writer.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        held.answers.append((time.monotonic(), status))
    except (OSError, ValueError, IndexError) as exc:
        held.errors.append(f"{type(exc).__name__}: {exc}")


def hold(held: Held, host: str, port: int, request: bytes, connected: asyncio.Semaphore) -> None:
    held.sent += 1
    task = asyncio.create_task(_one(held, host, port, request, connected))
    held.tasks.add(task)
    task.add_done_callback(held.tasks.discard)


# ---------------------------------------------------------------------------------------------
# The SQL side: what the API created, and the burst of finishes


@dataclass
class Runs:
    db: SyncDatabase
    act_id: str

    def count(self) -> int:
        with self.db.begin() as connection:
            return int(
                connection.execute(select(func.count()).where(RUNS.c.act_id == self.act_id)).scalar_one()
            )

    def finish_all(self, redis_url: str, prefix: str) -> tuple[int, float]:
        """Every READY run SUCCEEDED in one transaction, then one PUBLISH each (pipelined), as
        workers do it: commit, then publish. Returns (runs finished, monotonic time of the commit)."""
        now = utcnow()
        ready = (RUNS.c.act_id == self.act_id) & (RUNS.c.status == RunStatus.READY.value)
        with self.db.begin() as connection:
            ids = list(connection.execute(select(RUNS.c.id).where(ready)).scalars())
            connection.execute(
                update(RUNS)
                .where(ready)
                .values(status=RunStatus.SUCCEEDED.value, exit_code=0, finished_at=now)
            )
        committed = time.monotonic()
        client = Redis.from_url(redis_url)
        try:
            pipe = client.pipeline(transaction=False)
            for run_id in ids:
                pipe.publish(finished_channel(prefix), run_id)
            pipe.execute()
        finally:
            client.close()
        return len(ids), committed


# ---------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, key: str, value: str) -> None:
        self.lines.append((key, value))
        print(f"{key}: {value}", file=sys.stderr, flush=True)

    def text(self) -> str:
        width = max(len(k) for k, _ in self.lines) + 1
        return "\n".join(f"{k + ':':<{width}} {v}" for k, v in self.lines)


async def start_runs(settings: Settings, token: str, act_id: str, count: int) -> list[str]:
    """Runs to wait on, created through the API (64 at a time)."""
    ids: list[str] = []
    limit = asyncio.Semaphore(64)
    async with async_api_client(
        settings.api_base_url, token, timeout=60, limits=httpx.Limits(max_connections=64)
    ) as client:

        async def one() -> None:
            async with limit:
                response = await client.post(f"/acts/{act_id}/runs", json={})
                response.raise_for_status()
                ids.append(response.json()["data"]["id"])

        await asyncio.gather(*(one() for _ in range(count)))
    return ids


async def hold_run_syncs(
    held: Held, settings: Settings, token: str, act_id: str, runs: Runs, count: int, sem: asyncio.Semaphore
) -> None:
    """Send `count` run-syncs, no more than CREATING ahead of the runs the API has created."""
    host, port = settings.host, settings.port
    request = http_request("POST", f"/v2/acts/{act_id}/run-sync", f"{host}:{port}", token, b"{}")
    base = await asyncio.to_thread(runs.count)
    sent = 0
    while sent < count:
        if held.errors or (held.answers and len(held.tasks) < sent):
            return  # answered early (a 402 creates no run: waiting for it would never end)
        created = await asyncio.to_thread(runs.count) - base
        for _ in range(min(count - sent, CREATING - (sent - created))):
            hold(held, host, port, request, sem)
            sent += 1
        await asyncio.sleep(0.02)
    while await asyncio.to_thread(runs.count) - base < count:
        if held.errors or (held.answers and len(held.tasks) < sent):
            return  # something was answered early: reported below
        await asyncio.sleep(0.1)


async def bench(args: argparse.Namespace, bench: Setup, redis: EmbeddedRedis, report: Report) -> int:
    # Out of the way: the user's READY backlog (GREENROOM_MAX_READY_RUNS, 500) would refuse the rest.
    settings = greenroom_settings(
        bench, run_sync_wait_s=HOLD_S, wait_for_finish_max_s=HOLD_S, **OUT_OF_THE_WAY
    )
    api = start_api(bench, settings)
    db = SyncDatabase(create_sync_engine(bench.database_url))
    try:
        with api_client(settings.api_base_url, bench.token, timeout=30) as client:
            noop = {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE}
            act_id = create_actor(client, "held", noop)
        runs = Runs(db, act_id)
        connected = asyncio.Semaphore(args.connecting)
        host, port = settings.host, settings.port

        # 1. Warm-up: held, then answered.
        warm = Held()
        await hold_run_syncs(warm, settings, bench.token, act_id, runs, WARMUP, connected)
        runs.finish_all(bench.redis.url, settings.redis_prefix)
        await asyncio.gather(*list(warm.tasks))
        await settled(api.pid)
        rss_before = rss_kb(api.pid)
        fds_before = open_fds(api.pid)
        clients_before = redis_clients(redis.url)
        report.add("API before", f"RSS {rss_before / 1024:.1f} MiB, {fds_before} open fds")

        # 2. Hold: waitForFinish on runs made beforehand, then the run-syncs.
        started = time.monotonic()
        wait_ids = await start_runs(settings, bench.token, act_id, args.waits)
        held = Held()
        for run_id in wait_ids:
            target = f"/v2/actor-runs/{run_id}?waitForFinish={HOLD_S:g}"
            hold(held, host, port, http_request("GET", target, f"{host}:{port}", bench.token), connected)
        await hold_run_syncs(held, settings, bench.token, act_id, runs, args.run_syncs, connected)
        await settled(api.pid)
        hold_s = time.monotonic() - started
        total = args.run_syncs + args.waits
        rss_held = rss_kb(api.pid)
        fds_held = open_fds(api.pid)
        clients_held = redis_clients(redis.url)
        early = len(held.answers)
        report.add(
            "holding",
            f"{total - early} requests ({args.run_syncs} run-sync, {args.waits} waitForFinish) "
            f"after {hold_s:.1f} s (the run-syncs' runs created on the way; {early} answered early, "
            f"{len(held.errors)} errors)",
        )
        report.add("API holding", f"RSS {rss_held / 1024:.1f} MiB, {fds_held} open fds")
        per_kb = (rss_held - rss_before) / max(1, total)
        report.add("memory", f"{per_kb:.1f} KB per held request (RSS growth / held requests)")
        report.add(
            "redis clients",
            f"{clients_before[0]} before ({clients_before[1]} pub/sub), {clients_held[0]} while holding "
            f"({clients_held[1]} pub/sub): not one per request",
        )

        # 3. The burst: everything finishes at once.
        spy = _spy_on(api.pid, args.profile) if args.profile else None
        cpu_before = cpu_s(api.pid)
        finished, committed = runs.finish_all(bench.redis.url, settings.redis_prefix)
        published = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*list(held.tasks)), timeout=300)
        burst_cpu_s = cpu_s(api.pid) - cpu_before
        if spy is not None:
            report.add("profile", _spied(spy, args.profile))
        after = [t - committed for t, _ in held.answers[early:]]
        statuses: dict[int, int] = {}
        for _, status in held.answers:
            statuses[status] = statuses.get(status, 0) + 1
        report.add(
            "burst",
            f"{finished} runs finished in one commit; PUBLISH x{finished} took "
            f"{1000 * (published - committed):.0f} ms",
        )
        if after:
            report.add(
                "answered",
                f"all {len(after)} within {max(after):.2f} s of the commit "
                f"(p50 {nearest_rank(after, 50):.2f} s, p99 {nearest_rank(after, 99):.2f} s); "
                f"statuses {dict(sorted(statuses.items()))}",
            )
        report.add(
            "API CPU",
            f"{burst_cpu_s:.2f} s while answering the burst, {1e6 * burst_cpu_s / max(1, finished):.0f} us "
            "per answer (all its threads)",
        )
        report.add("API after", f"RSS {rss_kb(api.pid) / 1024:.1f} MiB")
        if held.errors:
            report.add("first error", held.errors[0])
        expected = {201: args.run_syncs, 200: args.waits}
        return 0 if statuses == {k: v for k, v in expected.items() if v} and not held.errors else 1
    finally:
        db.engine.dispose()


def _spy_on(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` (its threads holding the GIL) until _spied() stops it."""
    out.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--gil", "--rate", "200", "--format", "raw"]
    command += ["--output", str(out / "api-burst.raw"), "--pid", str(pid)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached, and sampling, before the burst
    return spy


def _spied(spy: subprocess.Popen[bytes], out: Path, top: int = 30) -> str:
    """Stop the recording; the heaviest frames of the burst, in percent of its samples."""
    spy.send_signal(signal.SIGINT)  # py-spy writes its file, then exits
    spy.wait(timeout=60)
    own, inclusive = heaviest(out / "api-burst.raw", top)
    lines = [f"{out / 'api-burst.raw'}", "own time:"]
    lines += [f"  {share:5.1f}  {frame}" for frame, share in own]
    lines += ["inclusive:"] + [f"  {share:5.1f}  {frame}" for frame, share in inclusive]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run-syncs", type=int, default=10_000, help="run-sync requests to hold (10000)")
    parser.add_argument("--waits", type=int, default=2_000, help="waitForFinish requests to hold (2000)")
    parser.add_argument("--connecting", type=int, default=256, help="connections being opened at once (256)")
    parser.add_argument("--profile", type=Path, help="py-spy the API during the burst, raw file here")
    add_database_url(parser)
    args = parser.parse_args(argv)
    if args.run_syncs < 0 or args.waits < 0 or args.run_syncs + args.waits < 1:
        parser.error("hold at least one request")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line("bench/hold.py", argv)
    limit = increase_open_files()
    needed = args.run_syncs + args.waits + 200
    if limit < needed:
        raise SystemExit(f"the open-file limit is {limit}; {needed} are needed (lower --run-syncs/--waits)")
    report = Report()
    report.add("command", command)
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(private_redis("greenroom-hold-"))
        services = stack.enter_context(setup(redis.url, args.database_url))
        report.add("services", f"{services.database_description}; private redis-server at {redis.url}")
        report.add("software", f"{software()}; open-file limit {limit}")
        code = asyncio.run(bench(args, services, redis, report))
    print(report.text(), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
