"""What a change did to throughput and CPU: two checkouts side by side, their phases alternating.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/cost.py --baseline /tmp/before [--rounds 2] [--clients 50] [--runs 500]
        [--workers 2] [--calls 300] [--this-first] [--database-url ...] [--redis-url ...]

bench/compare.py answers "is one run-sync faster"; this answers "how much does a run cost". It
starts a Greenroom from each checkout on the same services, then measures one side at a time (the
other idle), alternating sides every phase and rounds (B T T B B T ...), and prints the median of
each figure (of two rounds: their mean, so a steady drift of the machine weighs on both sides alike);
each round's figures go to stderr as they come:

  - run-sync of a no-op callable and of a no-op process actor with --clients clients: runs/s, and
    CPU per run of the API and of the worker pool (its workers and the actors they forked), and the
    pool's own page faults per run (copy-on-write, mostly: a forked actor shares its worker's pages),
    read from /proc before and after;
  - the pool's memory (its processes' proportional set size) once the phases are done;
  - GET of one run with Debian's wrk (64 connections): req/s, p99 and the API's CPU per request;
  - records put by 8 clients: puts/s and the API's CPU per put;
  - the storage calls a crawl makes per page, --calls of each by one client (bench/storage_calls.py):
    calls/s and the API's CPU per call.

This machine's speed drifts by tens of percent within minutes; alternating the sides phase by phase
lets both see the same drift. Yet the side started second measured slower here in A/A runs (the
same checkout on both sides, --rounds 4, 2026-12-07): the API's CPU per storage call 1.24-1.41x and
per put 1.23x that of the side started first; with the start order swapped (--this-first) the same
rows gave 0.72-0.93x and 0.91x. So run a comparison both ways round and trust a ratio only where
both runs agree on it. Rate limits and
the in-flight cap are out of the way (bench/versus.py). Each side runs on its checkout's own .venv
when it has one (a symlink to another venv will do): so a pinned package can be compared too.
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/cost.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import common
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import (
    api_client,
    cpu_s,
    greenroom_settings,
    setup,
    software,
    start_greenroom,
    tree_cpu_s,
    tree_page_faults,
    tree_pss_mb,
)
from bench.run_sync import NOOP_VERSIONS, create_task
from bench.storage_calls import storage_call_costs
from bench.versus import OUT_OF_THE_WAY, throughput
from bench.versus_rows import have_wrk, put_rate, wrk


class Side:
    """One checkout's Greenroom: its API and its pool, and what to ask of them."""

    def __init__(self, api: int, pool: int, base_url: str, token: str, tasks: dict[str, str], run_id: str):
        self.api, self.pool, self.base_url, self.token = api, pool, base_url, token
        self.tasks, self.run_id = tasks, run_id

    def cpu(self) -> tuple[float, float]:
        """(API, pool) CPU seconds so far; the pool's counts every process under it (its forkserver, workers,
        proxy; and the actors they reaped, counted in their parent's)."""
        return cpu_s(self.api), tree_cpu_s(self.pool)


def _measured(side: Side, work: Callable[[], tuple[float, int]]) -> tuple[float, float, float, float]:
    """work() -> (its figure, how many requests): (figure, API ms per request, pool ms per request,
    the pool's own page faults per request)."""
    before, faults = side.cpu(), tree_page_faults(side.pool)
    figure, count = work()
    after, faults = side.cpu(), tree_page_faults(side.pool) - faults
    return (
        figure,
        1000 * (after[0] - before[0]) / count,
        1000 * (after[1] - before[1]) / count,
        faults / count,
    )


def _phases(side: Side, args: argparse.Namespace) -> dict[str, float]:
    figures: dict[str, float] = {}
    for kind in ("callable", "process"):
        path = f"/actor-tasks/{side.tasks[kind]}/run-sync"

        def call(path: str = path) -> Callable[[], None]:
            client = api_client(side.base_url, side.token, timeout=60)

            def run_sync() -> None:
                client.post(path).raise_for_status()

            return run_sync

        runs = args.runs if kind == "callable" else args.runs // 2
        # Each client's warm-up run is off throughput's clock but not off the CPU read around it.
        ran = runs + args.clients
        rate, api_ms, pool_ms, faults = _measured(side, lambda: (throughput(call, args.clients, runs), ran))  # noqa: B023
        figures |= {
            f"{kind} run-sync, {args.clients} clients (runs/s)": rate,
            f"{kind}: API CPU per run (ms)": api_ms,
            f"{kind}: pool CPU per run (ms)": pool_ms,
            f"{kind}: pool's page faults per run (not its actors')": faults,
        }
    if have_wrk():
        url = f"{side.base_url}/v2/actor-runs/{side.run_id}"
        headers = {"Authorization": f"Bearer {side.token}"}
        seen: dict[str, float] = {}

        def get() -> tuple[float, int]:
            seen["rate"], seen["p99"] = wrk(url, args.wrk_seconds, headers)
            return seen["rate"], int(seen["rate"] * args.wrk_seconds)

        rate, api_ms, *_ = _measured(side, get)
        figures |= {
            "GET a run, wrk 64 connections (req/s)": rate,
            "GET a run: p99 (ms)": seen["p99"],
            "GET a run: API CPU per request (ms)": api_ms,
        }
    puts = 2000
    rate, api_ms, *_ = _measured(side, lambda: (put_rate(side.base_url, side.token, 8, puts), puts))
    figures |= {"records put, 8 clients (puts/s)": rate, "records put: API CPU per put (ms)": api_ms}
    figures |= storage_call_costs(side.base_url, side.token, args.calls, lambda: side.cpu()[0])
    return figures | {"pool memory after the phases, PSS (MB)": tree_pss_mb(side.pool)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=2, help="phases per side (2)")
    parser.add_argument("--clients", type=int, default=50, help="run-sync clients (50)")
    parser.add_argument("--runs", type=int, default=500, help="callable runs per phase; process: half (500)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side (2)")
    parser.add_argument("--wrk-seconds", type=float, default=5, help="each wrk phase (5)")
    parser.add_argument("--calls", type=int, default=300, help="each storage call, one client (300)")
    parser.add_argument(
        "--this-first", action="store_true", help="start this checkout's side first (the baseline's second)"
    )
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    if not (args.baseline / "server").is_dir():
        parser.error(f"--baseline {args.baseline} is not a Greenroom checkout")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line("bench/cost.py", argv)
    roots = {"baseline": args.baseline.resolve(), "this": common.ROOT}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    with setup(args.redis_url, args.database_url) as bench:
        sides: dict[str, Side] = {}
        for name, root in sorted(roots.items(), reverse=args.this_first):
            common.ROOT = root  # the processes start in (and import from) their checkout
            settings = greenroom_settings(bench, **OUT_OF_THE_WAY)
            settings = replace(settings, redis_prefix=f"{bench.tag}-{name}")
            api, pool = start_greenroom(bench, settings, args.workers)
            with api_client(settings.api_base_url, bench.token, timeout=60) as client:
                tasks = {k: create_task(client, f"noop-{k}-{name}", v) for k, v in NOOP_VERSIONS.items()}
                run = client.post(f"/actor-tasks/{tasks['callable']}/runs", params={"waitForFinish": 60})
            run_id = run.json()["data"]["id"]
            sides[name] = Side(api.pid, pool.pid, settings.api_base_url, bench.token, tasks, run_id)
        common.ROOT = roots["this"]
        for round_ in range(args.rounds):
            for name in sorted(sides, reverse=round_ % 2 == 1):
                print(f"measuring: {name}, round {round_ + 1} ...", file=sys.stderr, flush=True)
                measured[name].append(_phases(sides[name], args))
                figures = ", ".join(f"{what}: {value:.2f}" for what, value in measured[name][-1].items())
                print(f"{name}, round {round_ + 1}: {figures}", file=sys.stderr, flush=True)
    rows = []
    for what in measured["this"][0]:
        before, after = (statistics.median([m[what] for m in measured[n]]) for n in ("baseline", "this"))
        rows.append((what, f"{before:.1f}", f"{after:.1f}", f"{after / before:.2f}"))
    header = [
        ("command", command),
        ("baseline", str(args.baseline)),
        ("database", bench.database_description),
        ("software", software()),
        ("load", f"1-min load average {os.getloadavg()[0]:.2f} at the end"),
    ]
    print("\n".join(table_report(header, ("what (median of rounds)", "baseline", "this", "ratio"), rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
