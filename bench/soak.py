"""Soak: thousands of run-syncs while faults are injected; every request answered, every run true.

    .venv/bin/python bench/soak.py [--requests 2000] [--duration 120] [--clients 24] [--workers 3]
        [--fault-every 3] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

It starts its own Greenroom (an API and a worker pool, short leases) on a private redis-server (the
embedded one, which it restarts) and a fresh SQLite file or a throwaway PostgreSQL database, all on
loopback. Clients send run-syncs of a callable actor that pushes one dataset item per execution,
naps 0.05-0.5 s and writes OUTPUT {"n": n}, until --requests are sent or --duration has passed.
Meanwhile, every --fault-every seconds, in turn: SIGKILL a worker that is running a run, CLIENT KILL
TYPE pubsub (the API's listener and the workers' abort watchers), SIGKILL a worker, restart Redis
(its data, and so the queue, gone). At the end it holds --held waitForFinish requests on one run to
measure the API's memory per held request, and prints:

  sent, answered, lost (no HTTP answer: must be 0), answers by status;
  runs in a wrong state (must be 0): not terminal; SUCCEEDED without its OUTPUT; FAILED for another
  reason than its worker being killed; executed more than once; a 201 whose body or run disagrees;
  time to detect a dead worker: from SIGKILL to its run's FAILED (p50, p99);
  memory per held request.

Bounded in time and count; it stops everything it started. Numbers are printed; exit 1 on any loss
or wrong state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis import Redis
from sqlalchemy import select

if __package__ in (None, ""):  # run as `python bench/soak.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    Setup,
    child_env,
    greenroom_settings,
    nearest_rank,
    setup,
    software,
    wait_for_api,
    wait_for_workers,
)
from bench.hold import Held, hold, http_request, increase_open_files, rss_kb, settled
from bench.soak_actor import SOAK_CALLABLE
from server.embedded_redis import EmbeddedRedis
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.models import DatasetItem, KeyValueRecord, Run

RUN_SYNC_WAIT_S = 120.0
DEAD = "The worker running this Actor run stopped"
FAULTS = ("kill-worker", "pubsub-kill", "kill-worker", "redis-restart")


@dataclass
class Answer:
    n: int
    status: int | None  # None: lost (no HTTP answer)
    body: Any
    error: str | None = None


@dataclass
class Soak:
    settings: Settings
    token: str
    act_id: str
    db: SyncDatabase
    redis: EmbeddedRedis
    pool_pid: int
    answers: list[Answer] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    detect_s: list[float] = field(default_factory=list)
    killed_workers: set[int] = field(default_factory=set)
    sending: threading.Event = field(default_factory=threading.Event)


# ---------------------------------------------------------------------------------------------
# Load


def client_loop(soak: Soak, tickets: list[int], lock: threading.Lock, deadline: float) -> None:
    with httpx.Client(
        base_url=f"{soak.settings.api_base_url}/v2",
        headers={"Authorization": f"Bearer {soak.token}"},
        timeout=RUN_SYNC_WAIT_S + 30,
        trust_env=False,
    ) as client:
        while time.monotonic() < deadline:
            with lock:
                if not tickets:
                    return
                n = tickets.pop()
            body = {"n": n, "seconds": round(random.uniform(0.05, 0.5), 3)}
            try:
                response = client.post(f"/acts/{soak.act_id}/run-sync", json=body)
                parsed = response.json() if response.content else None
                soak.answers.append(Answer(n, response.status_code, parsed))
            except (httpx.HTTPError, ValueError) as exc:
                soak.answers.append(Answer(n, None, None, f"{type(exc).__name__}: {exc}"))


# ---------------------------------------------------------------------------------------------
# Faults


def worker_children(pool_pid: int) -> set[int]:
    """The pool's run workers (not its webhook workers)."""
    pids = set()
    for task in Path(f"/proc/{pool_pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                if b"--webhooks" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.add(int(pid))
            except FileNotFoundError:
                pass
    return pids


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def busy_worker(soak: Soak) -> tuple[int, str] | None:
    """(worker pid, run id) of a worker of the pool whose actor is running (it pushed its pid)."""
    query = (
        select(Run.id, DatasetItem.data)
        .join(DatasetItem, DatasetItem.dataset_id == Run.default_dataset_id)
        .where(Run.act_id == soak.act_id, Run.status == "RUNNING")
    )
    with soak.db.begin() as connection:
        rows = connection.execute(query).all()
    workers = worker_children(soak.pool_pid)
    random.shuffle(rows)
    for run_id, data in rows:
        worker = parent_of(json.loads(data)["pid"])
        if worker in workers:
            return worker, run_id
    return None


def watch_detection(soak: Soak, run_id: str, killed_at: float) -> None:
    """Until the killed worker's run leaves RUNNING; the time it took is one detection sample."""
    deadline = killed_at + 120
    while time.monotonic() < deadline:
        with soak.db.begin() as connection:
            status = connection.execute(select(Run.status).where(Run.id == run_id)).scalar_one()
        if status != "RUNNING":
            soak.detect_s.append(time.monotonic() - killed_at)
            return
        time.sleep(0.05)


def inject(soak: Soak, kind: str) -> None:
    if kind == "kill-worker":
        found = busy_worker(soak)
        if found is None:
            return
        worker, run_id = found
        os.kill(worker, signal.SIGKILL)
        soak.killed_workers.add(worker)
        threading.Thread(target=watch_detection, args=(soak, run_id, time.monotonic()), daemon=True).start()
    elif kind == "pubsub-kill":
        client = Redis.from_url(soak.redis.url)
        try:
            client.client_kill_filter(_type="pubsub")
        finally:
            client.close()
    elif kind == "redis-restart":
        soak.redis.stop()
        time.sleep(1.0)
        soak.redis.start()
    soak.faults[kind] = soak.faults.get(kind, 0) + 1


def fault_loop(soak: Soak, every_s: float) -> None:
    turn = 0
    while not soak.sending.wait(every_s * random.uniform(0.7, 1.3)):
        inject(soak, FAULTS[turn % len(FAULTS)])
        turn += 1


# ---------------------------------------------------------------------------------------------
# What is true at the end


def settle_runs(soak: Soak, timeout_s: float) -> None:
    """Until no run is READY or RUNNING (the sweepers end what the faults left)."""
    deadline = time.monotonic() + timeout_s
    query = select(Run.id).where(Run.act_id == soak.act_id, Run.status.in_(["READY", "RUNNING"]))
    while time.monotonic() < deadline:
        with soak.db.begin() as connection:
            if connection.execute(query.limit(1)).first() is None:
                return
        time.sleep(0.5)


def wrong_states(soak: Soak) -> dict[str, list[str]]:
    wrong: dict[str, list[str]] = {}
    with soak.db.begin() as connection:
        runs = connection.execute(
            select(
                Run.id,
                Run.status,
                Run.status_message,
                Run.stats,
                Run.default_key_value_store_id,
                Run.default_dataset_id,
            ).where(Run.act_id == soak.act_id)
        ).all()
        records = {
            (store, key): value
            for store, key, value in connection.execute(
                select(KeyValueRecord.store_id, KeyValueRecord.key, KeyValueRecord.value).where(
                    KeyValueRecord.store_id.in_([r.default_key_value_store_id for r in runs]),
                    KeyValueRecord.key.in_(["INPUT", "OUTPUT"]),
                )
            )
        }
        # One item per execution: {"pid": the actor's, "worker": its worker's}.
        executions: dict[str, list[dict[str, int]]] = {}
        for dataset_id, data in connection.execute(
            select(DatasetItem.dataset_id, DatasetItem.data).where(
                DatasetItem.dataset_id.in_([r.default_dataset_id for r in runs])
            )
        ):
            executions.setdefault(dataset_id, []).append(json.loads(data))
    by_n: dict[int, Any] = {}
    for run in runs:
        n = json.loads(records[(run.default_key_value_store_id, "INPUT")])["n"]
        by_n[n] = run
        output = records.get((run.default_key_value_store_id, "OUTPUT"))
        if run.status == "SUCCEEDED" and (output is None or json.loads(output) != {"n": n}):
            wrong.setdefault("SUCCEEDED without its OUTPUT", []).append(run.id)
        elif run.status == "FAILED" and DEAD in (run.status_message or ""):
            if not any(
                e["worker"] in soak.killed_workers for e in executions.get(run.default_dataset_id, [])
            ):
                wrong.setdefault("FAILED as a dead worker's, but its worker lived", []).append(run.id)
        elif run.status != "SUCCEEDED":
            wrong.setdefault(f"{run.status}: {run.status_message}", []).append(run.id)
        restarts = int((run.stats or {}).get("restartCount", 0))
        if len(executions.get(run.default_dataset_id, [])) > 1 + restarts:
            wrong.setdefault("executed more than once", []).append(run.id)
    for answer in soak.answers:
        run = by_n.get(answer.n)
        if answer.status == 201 and (
            run is None or run.status != "SUCCEEDED" or answer.body != {"n": answer.n}
        ):
            wrong.setdefault("201 that disagrees with its run", []).append(str(answer.n))
        if answer.status == 400 and run is not None and run.status == "SUCCEEDED":
            wrong.setdefault("400 for a SUCCEEDED run", []).append(run.id)
    return wrong


# ---------------------------------------------------------------------------------------------
# Memory per held request, at the end


async def held_memory(soak: Soak, api_pid: int, count: int) -> tuple[float, float]:
    """(KB per held waitForFinish request, seconds from the run's end to the last answer)."""
    async with httpx.AsyncClient(
        base_url=f"{soak.settings.api_base_url}/v2",
        headers={"Authorization": f"Bearer {soak.token}"},
        trust_env=False,
    ) as client:
        started = await client.post(f"/acts/{soak.act_id}/runs", json={"n": -1, "seconds": 8})
        run_id = started.json()["data"]["id"]
    await settled(api_pid, quiet_s=0.5)
    before = rss_kb(api_pid)
    host, port = soak.settings.host, soak.settings.port
    request = http_request("GET", f"/v2/actor-runs/{run_id}?waitForFinish=60", f"{host}:{port}", soak.token)
    held = Held()
    connecting = asyncio.Semaphore(128)
    for _ in range(count):
        hold(held, host, port, request, connecting)
    await settled(api_pid, quiet_s=0.5)
    per_kb = (rss_kb(api_pid) - before) / count
    await asyncio.gather(*list(held.tasks))
    times = [t for t, _ in held.answers]
    return per_kb, (max(times) - min(times)) if times else 0.0


# ---------------------------------------------------------------------------------------------


def start(bench: Setup, args: argparse.Namespace) -> tuple[Settings, int, int]:
    settings = greenroom_settings(
        bench,
        run_sync_wait_s=RUN_SYNC_WAIT_S,
        run_lease_s=3.0,
        sweep_interval_s=0.5,
        orphan_after_s=2.0,
        kill_grace_s=1.0,
    )
    env = child_env(settings.to_env())
    pool = bench.children.start(
        [sys.executable, "-m", "server.cli", "worker", "--processes", str(args.workers)], env
    )
    api = bench.children.start([sys.executable, "-m", "server.cli", "serve"], env)
    wait_for_api(settings.api_base_url, api)
    wait_for_workers(bench.connection, settings.queue_name, args.workers, [pool, api])
    return settings, api.pid, pool.pid


def create_actor(settings: Settings, token: str) -> str:
    version = {"versionNumber": "0.0", "sourceType": "PYTHON_CALLABLE", "callable": SOAK_CALLABLE}
    with httpx.Client(base_url=f"{settings.api_base_url}/v2", trust_env=False) as client:
        response = client.post(
            "/acts",
            json={"name": "soak", "versions": [version]},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        return str(response.json()["data"]["id"])


def load(soak: Soak, args: argparse.Namespace) -> float:
    """Clients and faults until --requests are sent or --duration passed; then every request sent is
    waited for (faults stop with the sending). Returns the seconds it took."""
    tickets, lock = list(range(args.requests, 0, -1)), threading.Lock()
    started = time.monotonic()
    deadline = started + args.duration
    faults = threading.Thread(target=fault_loop, args=(soak, args.fault_every), daemon=True)
    faults.start()
    with ThreadPoolExecutor(args.clients) as pool:
        for _ in range(args.clients):
            pool.submit(client_loop, soak, tickets, lock, deadline)
        while time.monotonic() < deadline and tickets:
            time.sleep(0.2)
        soak.sending.set()
    faults.join()
    return time.monotonic() - started


def report(soak: Soak, args: argparse.Namespace, elapsed: float, wrong: dict[str, list[str]]) -> list[str]:
    statuses: dict[str, int] = {}
    for answer in soak.answers:
        key = str(answer.status) if answer.status is not None else "lost"
        statuses[key] = statuses.get(key, 0) + 1
    lost = [a for a in soak.answers if a.status is None]
    detect, settings = soak.detect_s, soak.settings
    lines = [
        f"sent:        {len(soak.answers)} run-syncs in {elapsed:.0f} s ({args.clients} clients, "
        f"{args.workers} workers)",
        f"answered:    {len(soak.answers) - len(lost)} {dict(sorted(statuses.items()))}",
        f"lost:        {len(lost)}" + (f" (first: {lost[0].error})" if lost else ""),
        "faults:      " + (", ".join(f"{k} x{v}" for k, v in sorted(soak.faults.items())) or "none"),
        f"wrong state: {sum(len(v) for v in wrong.values())} runs",
        *(f"  {k}: {v[:5]}" for k, v in wrong.items()),
    ]
    if detect:
        lines.append(
            f"dead worker: {len(detect)} runs of killed workers FAILED, detected in p50 "
            f"{nearest_rank(detect, 50):.1f} s, p99 {nearest_rank(detect, 99):.1f} s (lease "
            f"{settings.run_lease_s:g} s, sweep every {settings.sweep_interval_s:g} s)"
        )
    else:
        lines.append("dead worker: no kill hit a running run")
    return lines


def run(args: argparse.Namespace, bench: Setup, redis: EmbeddedRedis) -> int:
    settings, api_pid, pool_pid = start(bench, args)
    db = SyncDatabase(create_sync_engine(bench.database_url))
    try:
        soak = Soak(settings, bench.token, create_actor(settings, bench.token), db, redis, pool_pid)
        elapsed = load(soak, args)
        settle_runs(soak, 60)
        wrong = wrong_states(soak)
        lines = report(soak, args, elapsed, wrong)
        if args.held:
            per_kb, spread_s = asyncio.run(held_memory(soak, api_pid, args.held))
            lines.append(
                f"held:        {args.held} waitForFinish on one run: {per_kb:.1f} KB per held request; "
                f"answered within {spread_s:.2f} s of each other when it ended"
            )
    finally:
        db.engine.dispose()
    print("\n".join(lines), flush=True)
    lost = any(a.status is None for a in soak.answers)
    return 1 if lost or wrong else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="run-syncs to send at most (2000)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of sending at most (120)")
    parser.add_argument("--clients", type=int, default=24, help="concurrent clients (24)")
    parser.add_argument("--workers", type=int, default=3, help="worker processes (3)")
    parser.add_argument("--fault-every", type=float, default=3, help="seconds between faults (3)")
    parser.add_argument("--held", type=int, default=1000, help="waitForFinish held at the end (1000)")
    parser.add_argument(
        "--database-url",
        help="postgresql://... : a server to create (and drop) a throwaway database on; default: SQLite",
    )
    args = parser.parse_args(argv)
    for name in ("requests", "clients", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.duration <= 0 or args.fault_every <= 0 or args.held < 0:
        parser.error("--duration and --fault-every must be positive, --held not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        "command:     "
        + shlex.join([sys.executable, *(sys.argv if argv is None else ["bench/soak.py", *argv])])
    )
    increase_open_files()
    with tempfile.TemporaryDirectory(prefix="greenroom-soak-") as tmp:
        redis = EmbeddedRedis(Path(tmp))
        redis.start()
        try:
            with setup(redis.url, args.database_url) as bench:
                print(f"services:    {bench.database_description}; private redis-server at {redis.url}")
                print(f"software:    {software()}", flush=True)
                return run(args, bench, redis)
        finally:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
