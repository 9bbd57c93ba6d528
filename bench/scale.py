"""How run-sync scales with worker processes and API processes (issue 15's "Scale").

    .venv/bin/python bench/scale.py [--workers 1,2,4] [--apis 1,2] [--kind callable|process]
        [--clients 50] [--runs 400] [--sequential 40] [--cores 16] [--database-url ...] [--redis-url ...]

For each count of API processes and of worker processes, a Greenroom on the same services: the APIs
on ports of their own, as behind a proxy, taken by the clients in turn. Each is measured with run-sync
of a no-op task: sequential p50 and p99 (one client, --sequential requests), runs/s with --clients
clients, and the CPU per run of the API processes and of the worker pool (its workers and the actors
they forked), read from /proc around the throughput phase.

Then, on paper, a machine with --cores cores (16), all of them busy with runs at the CPU per run of
the last setup measured (the largest): at most cores / (API + pool CPU per run) runs/s, taking about
that rate times the API's CPU per run in API processes (one core each: one event loop) and that rate
times the pool's CPU per run in cores for the workers, in at least that rate times a run's p50 in
worker processes (each takes one run at a time). Redis's, the database's and the clients' CPU are not
counted: the figure is a ceiling. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/scale.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import (
    Setup,
    api_client,
    cpu_s,
    free_port,
    greenroom_settings,
    nearest_rank,
    setup,
    software,
    start_api,
    start_greenroom,
    tree_cpu_s,
)
from bench.run_sync import NOOP_VERSIONS, create_task
from bench.versus import OUT_OF_THE_WAY
from bench.versus_rows import spread


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of counts, each at least 1")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=_counts, default=[1, 2, 4], help="worker processes (1,2,4)")
    parser.add_argument("--apis", type=_counts, default=[1, 2], help="API processes (1,2)")
    parser.add_argument("--kind", choices=sorted(NOOP_VERSIONS), default="callable")
    parser.add_argument("--clients", type=int, default=50, help="run-sync clients (50)")
    parser.add_argument("--runs", type=int, default=400, help="runs per throughput phase (400)")
    parser.add_argument("--sequential", type=int, default=40, help="sequential run-syncs (40)")
    parser.add_argument("--cores", type=int, default=16, help="the machine on paper (16 cores)")
    add_database_url(parser)
    add_redis_url(parser)
    return parser.parse_args(argv)


def _measure(bench: Setup, args: argparse.Namespace, apis: int, workers: int) -> dict[str, float]:
    """Start a Greenroom of `apis` API processes and `workers` workers, measure it, stop it."""
    settings = greenroom_settings(bench, **OUT_OF_THE_WAY)
    settings = replace(settings, redis_prefix=f"{bench.tag}-{apis}x{workers}")
    api, pool = start_greenroom(bench, settings, workers)
    urls, api_pids = [settings.api_base_url], [api.pid]
    for _ in range(apis - 1):
        more = replace(settings, port=free_port())
        urls.append(more.api_base_url)
        api_pids.append(start_api(bench, more).pid)
    try:
        with api_client(urls[0], bench.token, timeout=60) as client:
            task = create_task(client, f"scale-{args.kind}-{apis}x{workers}", NOOP_VERSIONS[args.kind])
        path = f"/actor-tasks/{task}/run-sync"

        def call(i: int) -> Callable[[], None]:
            client = api_client(urls[i % len(urls)], bench.token, timeout=120)

            def run_sync() -> None:
                client.post(path).raise_for_status()

            return run_sync

        calls = [call(i) for i in range(len(urls))]
        for one in calls * 3:  # warm: connections, caches, each worker's standby
            one()
        latencies = []
        for i in range(args.sequential):
            start = time.perf_counter()
            calls[i % len(calls)]()
            latencies.append(time.perf_counter() - start)
        before = sum(cpu_s(pid) for pid in api_pids), tree_cpu_s(pool.pid)
        rate = spread(args.clients, args.runs, call, warm=True)
        after = sum(cpu_s(pid) for pid in api_pids), tree_cpu_s(pool.pid)
        ran = args.runs + args.clients  # each client's warm-up run is off the clock, not off the CPU
        return {
            "p50": 1000 * nearest_rank(latencies, 50),
            "p99": 1000 * nearest_rank(latencies, 99),
            "rate": rate,
            "api_ms": 1000 * (after[0] - before[0]) / ran,
            "pool_ms": 1000 * (after[1] - before[1]) / ran,
        }
    finally:
        bench.children.stop()


def on_paper(cores: int, last: dict[str, float]) -> list[tuple[str, str]]:
    api_ms, pool_ms, p50_ms = last["api_ms"], last["pool_ms"], last["p50"]
    ceiling = 1000 * cores / (api_ms + pool_ms)
    return [
        (
            f"{cores} cores",
            f"at most {ceiling:,.0f} runs/s ({cores} cores / {api_ms + pool_ms:.1f} ms of CPU a run)",
        ),
        (
            "taking",
            f"{math.ceil(ceiling * api_ms / 1000)} API processes (one core each at {api_ms:.1f} ms a run), "
            f"{ceiling * pool_ms / 1000:.1f} cores of workers ({pool_ms:.1f} ms a run) and at least "
            f"{math.ceil(ceiling * p50_ms / 1000)} worker processes (one run at a time each, a run's p50 "
            f"{p50_ms:.1f} ms)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line("bench/scale.py", argv)
    rows: list[tuple[str, ...]] = []
    last: dict[str, float] = {}
    with setup(args.redis_url, args.database_url) as bench:
        for apis, workers in itertools.product(args.apis, args.workers):
            print(f"measuring: {apis} API, {workers} workers ...", file=sys.stderr, flush=True)
            m = _measure(bench, args, apis, workers)
            last = m
            rows.append(
                (
                    f"{apis} API, {workers} worker{'s' if workers > 1 else ''}",
                    f"{m['p50']:.1f}",
                    f"{m['p99']:.1f}",
                    f"{m['rate']:.0f}",
                    f"{m['api_ms']:.1f}",
                    f"{m['pool_ms']:.1f}",
                )
            )
    header = [
        ("command", command),
        ("database", bench.database_description),
        ("software", software()),
        ("run-sync", f"no-op {args.kind}; {args.clients} clients for runs/s; CPU per run over that phase"),
        ("load", f"1-min load average {os.getloadavg()[0]:.2f} at the end"),
    ]
    columns = ("processes", "p50 (ms)", "p99 (ms)", "runs/s", "API CPU/run (ms)", "pool CPU/run (ms)")
    lines = table_report(header, columns, rows)
    paper = on_paper(args.cores, last)
    lines += ["on paper, at the last row's CPU per run (Redis, the database and clients not counted):"]
    lines += [f"  {key}: {value}" for key, value in paper]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
