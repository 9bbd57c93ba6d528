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
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/soak.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, command_line
from bench.common import (
    Setup,
    api_client,
    create_actor,
    greenroom_settings,
    private_redis,
    setup,
    software,
    start_greenroom,
)
from bench.hold import increase_open_files
from bench.soak_actor import SOAK_CALLABLE
from bench.soak_checks import settle_runs, wrong_states
from bench.soak_held import held_memory
from bench.soak_load import RUN_SYNC_WAIT_S, load
from bench.soak_report import held_line, report
from bench.soak_state import Soak
from server.embedded_redis import EmbeddedRedis
from server.storage.db import SyncDatabase, create_sync_engine


def run(args: argparse.Namespace, bench: Setup, redis: EmbeddedRedis) -> int:
    settings = greenroom_settings(
        bench,
        run_sync_wait_s=RUN_SYNC_WAIT_S,
        run_lease_s=3.0,
        sweep_interval_s=0.5,
        orphan_after_s=2.0,
        kill_grace_s=1.0,
    )
    api, pool = start_greenroom(bench, settings, args.workers)
    db = SyncDatabase(create_sync_engine(bench.database_url))
    try:
        with api_client(settings.api_base_url, bench.token) as client:
            version = {"sourceType": "PYTHON_CALLABLE", "callable": SOAK_CALLABLE}
            act_id = create_actor(client, "soak", version)
        soak = Soak(settings, bench.token, act_id, db, redis, pool.pid)
        elapsed = load(soak, args)
        settle_runs(soak, 60)
        wrong = wrong_states(soak)
        lines = report(soak, args, elapsed, wrong)
        if args.held:
            per_kb, spread_s = asyncio.run(held_memory(soak, api.pid, args.held))
            lines.append(held_line(args.held, per_kb, spread_s))
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
    add_database_url(parser)
    args = parser.parse_args(argv)
    for name in ("requests", "clients", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.duration <= 0 or args.fault_every <= 0 or args.held < 0:
        parser.error("--duration and --fault-every must be positive, --held not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("command:     " + command_line("bench/soak.py", argv))
    increase_open_files()
    with private_redis("greenroom-soak-") as redis, setup(redis.url, args.database_url) as bench:
        print(f"services:    {bench.database_description}; private redis-server at {redis.url}")
        print(f"software:    {software()}", flush=True)
        return run(args, bench, redis)


if __name__ == "__main__":
    sys.exit(main())
