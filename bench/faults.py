"""The soak's faults (bench/soak.py), injected in turn while its clients send: SIGKILL a worker that
is running a run (and time how long its run takes to leave RUNNING), CLIENT KILL TYPE pubsub, and a
restart of the private redis-server (its data, and so the queue, gone)."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

from redis import Redis
from sqlalchemy import select

from bench.soak_state import Soak
from server.storage.models import DatasetItem, Run

FAULTS = ("kill-worker", "pubsub-kill", "kill-worker", "redis-restart")


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
