"""List endpoints with many stored runs: the same requests for a user with `--small` runs and one
with `--big`, in one database, side by side; the last column is big / small.

    .venv/bin/python -m bench.lists [--small 100] [--big 100000] [--requests 30] [--database URL]

One API process (no workers). Each user gets an actor, a task, and runs (half of them the task's)
copied in SQL from one run started through the API, finished, a millisecond apart. Then each listed
request is made `--requests` times per user, alternating users, and its p50 printed. Numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import Table, insert, select

if __package__ in (None, ""):  # run as a script: bench/ beside server/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    api_client,
    create_actor,
    greenroom_settings,
    nearest_rank,
    new_user_token,
    setup,
    software,
    start_api,
)
from bench.noop import NOOP_CALLABLE
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.ids import new_id, utcnow
from server.storage.models import Run

RUNS = cast(Table, Run.__table__)
_CHUNK = 5000


def _user(base: str, token: str) -> tuple[str, str, str]:
    """(actor id, task id, the id of one run started through the API, left READY)."""
    with api_client(base, token) as api:
        actor = create_actor(api, "lister", {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE})
        task = api.post("/actor-tasks", json={"actId": actor, "name": "lister-task"}).json()["data"]["id"]
        run = api.post(f"/acts/{actor}/runs").json()["data"]["id"]
    return actor, str(task), str(run)


def _copy_runs(database_url: str, run_id: str, task_id: str, count: int) -> None:
    """`count` finished copies of the run, a millisecond apart, every other one the task's."""
    db = SyncDatabase(create_sync_engine(database_url))
    try:
        with db.engine.begin() as conn:
            template = dict(conn.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().one())
            start = utcnow() - timedelta(days=30)
            for first in range(0, count, _CHUNK):
                rows: list[dict[str, Any]] = []
                for i in range(first, min(first + _CHUNK, count)):
                    at = start + timedelta(milliseconds=i)
                    rows.append(
                        template
                        | {
                            "id": new_id(),
                            "status": "SUCCEEDED",
                            "started_at": at,
                            "finished_at": at,
                            "actor_task_id": task_id if i % 2 else None,
                        }
                    )
                conn.execute(insert(RUNS), rows)
    finally:
        db.engine.dispose()


def _requests(actor: str, task: str, total: int) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "GET /actor-runs (oldest 10)": ("/actor-runs", {"limit": 10}),
        "GET /actor-runs?desc=1 (newest 10)": ("/actor-runs", {"limit": 10, "desc": 1}),
        "GET /actor-runs?status=READY": ("/actor-runs", {"limit": 10, "status": "READY"}),
        "GET /acts/:id/runs?desc=1": (f"/acts/{actor}/runs", {"limit": 10, "desc": 1}),
        "GET /actor-tasks/:id/runs?desc=1": (f"/actor-tasks/{task}/runs", {"limit": 10, "desc": 1}),
        "GET /acts/:id/runs/last": (f"/acts/{actor}/runs/last", {}),
        "GET /actor-runs, last page (offset)": ("/actor-runs", {"limit": 10, "offset": max(total - 10, 0)}),
    }


def _time(api: httpx.Client, path: str, params: dict[str, Any]) -> float:
    began = time.perf_counter()
    api.get(path, params=params).raise_for_status()
    return (time.perf_counter() - began) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=100, help="the small user's runs")
    parser.add_argument("--big", type=int, default=100_000, help="the big user's runs")
    parser.add_argument("--requests", type=int, default=30, help="of each kind, per user")
    parser.add_argument("--redis", help="a Redis URL (default: the local one, else a private redis-server)")
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    with setup(args.redis, args.database) as bench:
        settings = greenroom_settings(bench)
        start_api(bench, settings)
        base = settings.api_base_url
        users = {"small": bench.token, "big": new_user_token(bench.database_url, f"{bench.tag}-big")}
        sizes = {"small": args.small, "big": args.big}
        kinds: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
        for name, token in users.items():
            actor, task, run = _user(base, token)
            began = time.monotonic()
            _copy_runs(bench.database_url, run, task, sizes[name] - 1)
            print(f"{name}: {sizes[name]} runs stored in {time.monotonic() - began:.1f} s")
            kinds[name] = _requests(actor, task, sizes[name])
        print(f"{bench.database_description}; {software()}")
        clients = {name: api_client(base, token, timeout=120) for name, token in users.items()}
        try:
            print()
            print(f"| request | {args.small} runs p50 ms | {args.big} runs p50 ms | ratio |")
            print("|---|---|---|---|")
            for kind in kinds["small"]:
                samples: dict[str, list[float]] = {"small": [], "big": []}
                for name in ("small", "big"):  # warm
                    _time(clients[name], *kinds[name][kind])
                for _ in range(args.requests):
                    for name in ("small", "big"):
                        samples[name].append(_time(clients[name], *kinds[name][kind]))
                small, big = (nearest_rank(samples[n], 50) for n in ("small", "big"))
                print(f"| {kind} | {small:.1f} | {big:.1f} | {big / small:.2f}x |")
        finally:
            for client in clients.values():
                client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
