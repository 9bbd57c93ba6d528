"""The console's run list (`GET /runs`) and the API's (`GET /v2/actor-runs?desc=1`) for a user with
many runs, beside the same lists for a user with 100 (the baseline, measured in the same run).

    .venv/bin/python -m bench.console_runs [--runs 100000] [--requests 100] [--redis URL] [--database URL]

The runs are written straight into SQL (finished, one actor, started a second apart), so the bench
takes seconds, not the hours that starting them would; an API process answers (no workers). Each
list shows the newest 100 runs. Printed, never asserted: p50 and p99 per user, and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: bench/ beside server/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

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
from server.storage.ids import hash_token, new_id
from server.storage.models import ApiToken, Build, Run

_BATCH = 5000


def _fill(database_url: str, token: str, actor_id: str, count: int) -> None:
    """`count` finished runs of the token's user, newest last."""
    db = SyncDatabase(create_sync_engine(database_url))
    try:
        with db.transaction() as session:
            user_id = session.execute(
                select(ApiToken.user_id).where(ApiToken.token_hash == hash_token(token))
            ).scalar_one()
            build = session.execute(select(Build).where(Build.act_id == actor_id)).scalars().first()
            assert build is not None
        start = datetime.now(UTC) - timedelta(seconds=count + 60)
        for first in range(0, count, _BATCH):
            rows = [
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "act_id": actor_id,
                    "build_id": build.id,
                    "build_number": build.build_number,
                    "status": "SUCCEEDED",
                    "options": {
                        "build": "latest",
                        "timeoutSecs": 60,
                        "memoryMbytes": 1024,
                        "diskMbytes": 2048,
                    },
                    "default_key_value_store_id": new_id(),
                    "default_dataset_id": new_id(),
                    "default_request_queue_id": new_id(),
                    "started_at": start + timedelta(seconds=n),
                    "finished_at": start + timedelta(seconds=n, milliseconds=500),
                }
                for n in range(first, min(first + _BATCH, count))
            ]
            with db.transaction() as session:
                session.execute(insert(Run), rows)
    finally:
        db.engine.dispose()


def _times(client: httpx.Client, path: str, params: dict[str, str], requests: int) -> list[float]:
    client.get(path, params=params).raise_for_status()  # warm
    timings: list[float] = []
    for _ in range(requests):
        began = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="the big user's runs")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per list and user")
    parser.add_argument("--redis", help="a Redis URL (default: the local one, else a private redis-server)")
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    with setup(args.redis, args.database) as bench:
        settings = greenroom_settings(bench)
        start_api(bench, settings)
        users = {
            "100 runs": new_user_token(bench.database_url, f"{bench.tag}-small"),
            f"{args.runs} runs": bench.token,
        }
        for (label, token), count in zip(users.items(), (100, args.runs), strict=True):
            with api_client(settings.api_base_url, token, timeout=60) as api:
                actor_id = create_actor(
                    api, "listed", {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE}
                )
            began = time.monotonic()
            _fill(bench.database_url, token, actor_id, count)
            print(f"{label}: written in {time.monotonic() - began:.1f} s")
        print(f"{bench.database_description}; {software()}")
        results: dict[str, dict[str, list[float]]] = {}
        for label, token in users.items():
            with httpx.Client(
                base_url=settings.api_base_url, trust_env=False, timeout=60, follow_redirects=True
            ) as web:
                web.post("/sign-in", data={"token": token}).raise_for_status()
                console = _times(web, "/runs", {}, args.requests)
            with api_client(settings.api_base_url, token, timeout=60) as api:
                listed = _times(api, "/actor-runs", {"desc": "1", "limit": "100"}, args.requests)
            results[label] = {"console GET /runs": console, "API GET /v2/actor-runs?desc=1&limit=100": listed}
        small, big = results.values()
        for what in small:
            p50s = [nearest_rank(r[what], 50) for r in (small, big)]
            p99s = [nearest_rank(r[what], 99) for r in (small, big)]
            print(
                f"{what}: 100 runs p50 {p50s[0]:.1f} ms p99 {p99s[0]:.1f} ms; {args.runs} runs p50 "
                f"{p50s[1]:.1f} ms p99 {p99s[1]:.1f} ms; ratio (p50) {p50s[1] / p50s[0]:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
