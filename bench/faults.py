"""The soak's faults (bench/soak.py), injected in turn while its clients send: SIGKILL a worker that
is running a run (and time how long its run takes to leave RUNNING), CLIENT KILL TYPE pubsub, and a
restart of the private redis-server (its data, and so the queue, gone).

Run as `python -m bench.faults`, it times the loss of a whole worker pool instead: the pool's process
group SIGKILLed while its run goes, with no other pool left, until an API process's sweeper fails
the run and its run-sync is answered."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis import Redis
from sqlalchemy import select

from bench.cli import command_line
from bench.common import (
    Setup,
    api_client,
    child_env,
    create_actor,
    greenroom_settings,
    nearest_rank,
    private_redis,
    setup,
    software,
    start_api,
)
from bench.soak_state import Soak
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.models import DatasetItem, Run
from server.sweeper.lock import sweep_lock_key
from worker.forked import pool_children

if TYPE_CHECKING:
    from worker.actor_api import ActorContext

FAULTS = ("kill-worker", "pubsub-kill", "kill-worker", "redis-restart")


def worker_children(pool_pid: int) -> set[int]:
    """The pool's run workers (not its webhook workers)."""
    return set(pool_children(pool_pid, "worker"))


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
# `python -m bench.faults`: the time from a whole worker pool's SIGKILL to its run's FAILED


POOL_ACTOR = "bench.faults:sleeper"


def sleeper(context: ActorContext) -> None:
    """A run that goes on until its pool is killed."""
    time.sleep(float((context.input or {}).get("seconds", 600)))


def _lock_holder(connection: Redis, prefix: str) -> str:
    value = connection.get(sweep_lock_key(prefix))
    return "nobody" if value is None else value.decode().rsplit(":", 1)[0]


def _status(db: SyncDatabase, run_id: str) -> str | None:
    with db.begin() as connection:
        return connection.execute(select(Run.status).where(Run.id == run_id)).scalar_one_or_none()


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout_s:g} s")
        time.sleep(0.02)


def kill_pool_once(bench: Setup, settings: Settings, db: SyncDatabase, act_id: str) -> dict[str, Any]:
    """A pool (its own process group) and one run-sync on it; SIGKILL the group at a random point of
    the lease's renewal cycle; time the run's FAILED (in SQL) and the run-sync's answer."""
    argv = [sys.executable, "-m", "server.cli", "worker", "--processes", "1"]
    pool = bench.children.start(argv, child_env(settings.to_env()))
    answered: dict[str, Any] = {}

    def hold() -> None:
        with api_client(settings.api_base_url, bench.token, timeout=400) as client:
            response = client.post(f"/acts/{act_id}/run-sync", json={"seconds": 600})
            answered.update(at=time.monotonic(), status=response.status_code)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    with api_client(settings.api_base_url, bench.token) as client:

        def running() -> bool:
            runs = client.get(f"/acts/{act_id}/runs", params={"desc": 1, "limit": 1}).json()["data"]["items"]
            answered["run_id"] = runs[0]["id"] if runs else None
            return bool(runs) and runs[0]["status"] == "RUNNING"

        _until(running, 60, "the run did not start")
    run_id = answered["run_id"]
    time.sleep(random.uniform(0, settings.run_lease_s / 3))  # anywhere between two renewals
    lock = _lock_holder(bench.connection, settings.redis_prefix)
    os.killpg(pool.pid, signal.SIGKILL)
    killed = time.monotonic()
    pool.wait()
    _until(lambda: _status(db, run_id) == "FAILED", 120, "the run was not FAILED")
    failed_s = time.monotonic() - killed
    holder.join(timeout=30)
    return {
        "failed_s": failed_s,
        "answered_s": answered["at"] - killed if "at" in answered else None,
        "answer": answered.get("status"),
        "lock": "pool" if lock.endswith(f":{pool.pid}") else "API" if lock != "nobody" else lock,
    }


def pool_kills(args: argparse.Namespace) -> int:
    print("command:  " + command_line("bench/faults.py", args.argv))
    with private_redis("greenroom-faults-") as redis, setup(redis.url, args.database_url) as bench:
        overrides = {"run_lease_s": args.lease} if args.lease else {}
        settings = greenroom_settings(bench, **overrides)
        print(f"services: {bench.database_description}; private redis-server at {redis.url}")
        print(f"software: {software()}")
        print(
            f"settings: run lease {settings.run_lease_s:g} s, sweeps every {settings.sweep_interval_s:g} s, "
            f"sweeper lock lease {settings.sweep_lock_s:g} s; one API process, one pool of 1 worker",
            flush=True,
        )
        start_api(bench, settings)
        db = SyncDatabase(create_sync_engine(bench.database_url))
        try:
            with api_client(settings.api_base_url, bench.token) as client:
                act_id = create_actor(
                    client, "sleeper", {"sourceType": "PYTHON_CALLABLE", "callable": POOL_ACTOR}
                )
            samples = [kill_pool_once(bench, settings, db, act_id) for _ in range(args.kills)]
        finally:
            db.engine.dispose()
    for n, s in enumerate(samples, 1):
        print(
            f"kill {n}: FAILED after {s['failed_s']:.2f} s, run-sync answered {s['answer']} after "
            f"{s['answered_s']:.2f} s; the lock was held by the {s['lock']}"
        )
    failed = [s["failed_s"] for s in samples]
    answers = [s["answered_s"] for s in samples if s["answered_s"] is not None]
    print(
        f"pool SIGKILL -> run FAILED: p50 {nearest_rank(failed, 50):.2f} s, max {max(failed):.2f} s; "
        f"-> run-sync answered: p50 {nearest_rank(answers, 50):.2f} s, max {max(answers):.2f} s "
        f"({len(samples)} kills)"
    )
    return 0 if all(s["answer"] == 400 for s in samples) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="SIGKILL a whole worker pool (its process group) while its run goes, with no other pool: "
        "the time until an API process's sweeper fails the run and the run-sync is answered. "
        "A new pool is started for each kill."
    )
    parser.add_argument("--kills", type=int, default=5, help="pools killed, one after another (5)")
    parser.add_argument("--lease", type=float, help="GREENROOM_RUN_LEASE_S (default: the setting's default)")
    parser.add_argument(
        "--database-url", help="postgresql://... for a throwaway database there (default: SQLite)"
    )
    args = parser.parse_args(argv)
    args.argv = argv
    return pool_kills(args)


if __name__ == "__main__":
    sys.exit(main())
