"""What starting a worker pool costs: time until its workers listen, the CPU its processes spent on
the way, and time to stop it; optionally beside another checkout's, started in turn.

    .venv/bin/python bench/pool_start.py [--baseline /tmp/before] [--rounds 3] [--workers 2]
        [--database-url ...] [--redis-url ...]

Each round starts `greenroom worker --processes N` from each checkout (alternating which goes first)
on the same services, waits until its N run workers and its webhook workers are registered in RQ,
then sums the CPU of the pool's whole process tree (each live process's own and its reaped
children's, from /proc), then stops the pool (SIGTERM) and times its exit. A pool starts on every
deploy, and a test suite starts dozens. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/pool_start.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import common
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import (
    Setup,
    child_env,
    greenroom_settings,
    nearest_rank,
    setup,
    software,
    tree_cpu_s,
    wait_for_workers,
)


def start_once(bench: Setup, name: str, workers: int) -> dict[str, float]:
    settings = replace(
        greenroom_settings(bench, proxy_port=common.free_port()),
        redis_prefix=f"{bench.tag}-{name}-{time.time_ns()}",
    )
    began = time.monotonic()
    pool = bench.children.start(
        [sys.executable, "-m", "server.cli", "worker", "--processes", str(workers)],
        child_env(settings.to_env()),
    )
    wait_for_workers(bench.connection, settings.queue_name, workers, [pool])
    wait_for_workers(bench.connection, settings.webhook_queue_name, settings.webhook_worker_processes, [pool])
    ready = time.monotonic() - began
    cpu = tree_cpu_s(pool.pid)
    stopping = time.monotonic()
    bench.children.stop([pool])  # SIGTERM, then waits
    return {"start to ready (s)": ready, "CPU to ready (s)": cpu, "stop (s)": time.monotonic() - stopping}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, help="another checkout (a git worktree) to start in turn")
    parser.add_argument("--rounds", type=int, default=3, help="starts per checkout (3)")
    parser.add_argument("--workers", type=int, default=2, help="run workers per pool (2)")
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    roots = {"this": common.ROOT}
    if args.baseline is not None:
        if not (args.baseline / "server").is_dir():
            parser.error(f"--baseline {args.baseline} is not a Greenroom checkout")
        roots = {"baseline": args.baseline.resolve(), **roots}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    with setup(args.redis_url, args.database_url) as bench:
        for round_ in range(args.rounds):
            for name in sorted(roots, reverse=round_ % 2 == 1):
                common.ROOT = roots[name]  # the pool starts in (and imports from) its checkout
                print(f"starting: {name}, round {round_ + 1} ...", file=sys.stderr, flush=True)
                measured[name].append(start_once(bench, name, args.workers))
        description = bench.database_description
    columns = ("what (median of rounds)", *roots, *(("ratio",) if len(roots) == 2 else ()))
    rows = []
    for what in measured["this"][0]:
        figures = [nearest_rank([m[what] for m in measured[name]], 50) for name in roots]
        ratio = (f"{figures[-1] / figures[0]:.2f}",) if len(figures) == 2 and figures[0] else ()
        rows.append((what, *(f"{f:.2f}" for f in figures), *ratio))
    header = [
        ("command", command_line("bench/pool_start.py", argv)),
        ("database", description),
        ("software", software()),
        ("load", f"1-min load average {os.getloadavg()[0]:.2f} at the end"),
    ]
    print("\n".join(table_report(header, columns, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
