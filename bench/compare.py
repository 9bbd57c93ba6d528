"""Paired run-sync comparison of two checkouts: is a change faster or slower, beyond this machine's noise?

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/compare.py --baseline /tmp/before [--kind callable|process] [--requests 200]
        [--workers 2] [--database-url ...] [--redis-url ...]

Latency here drifts by tens of percent within minutes (other processes, a virtual machine's
neighbours), so two runs of bench/run_sync.py minutes apart cannot tell a 10 ms change. This starts
two Greenrooms at once on the same database and Redis (prefixes of their own): one from the
`--baseline` checkout, one from this one. It sends no-op run-syncs to them in turn, one at a time, and
swaps the order every round. Each pair of requests then sees the same machine. It prints p50 and p90
per side, the median of the paired differences (baseline - this), and the ratio of the p50s. Numbers
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/compare.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import common
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import api_client, greenroom_settings, nearest_rank, setup, software, start_greenroom
from bench.run_sync import NOOP_VERSIONS, create_task

_PAUSE_S = 0.02  # between requests: each starts with both Greenrooms idle


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, type=Path, help="the other checkout (a git worktree)")
    parser.add_argument(
        "--kind", choices=sorted(NOOP_VERSIONS), default="callable", help="the no-op actor (callable)"
    )
    parser.add_argument("--requests", type=int, default=200, help="measured requests per side (200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per side first (10)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side (2)")
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    if not (args.baseline / "server").is_dir():
        parser.error(f"--baseline {args.baseline} is not a Greenroom checkout")
    if args.requests < 1 or args.workers < 1 or args.warmup < 0:
        parser.error("--requests and --workers must be at least 1, --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line("bench/compare.py", argv)
    sides = {"baseline": args.baseline.resolve(), "this": common.ROOT}
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    with setup(args.redis_url, args.database_url) as bench:
        calls = {}
        for name, root in sides.items():
            # The processes start in (and import from) their checkout; both share the services.
            common.ROOT = root
            settings = replace(greenroom_settings(bench), redis_prefix=f"{bench.tag}-{name}")
            start_greenroom(bench, settings, args.workers)
            client = api_client(settings.api_base_url, bench.token, timeout=60)
            task = create_task(client, f"noop-{name}", NOOP_VERSIONS[args.kind])
            calls[name] = (client, f"/actor-tasks/{task}/run-sync")
        common.ROOT = sides["this"]
        for round_ in range(args.warmup + args.requests):
            for name in sorted(sides, reverse=round_ % 2 == 1):
                client, path = calls[name]
                started = time.perf_counter()
                response = client.post(path)
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(
                        f"{name}: run-sync answered {response.status_code}: {response.text[:200]}"
                    )
                if round_ >= args.warmup:
                    latencies[name].append(elapsed)
                time.sleep(_PAUSE_S)
        for client, _ in calls.values():
            client.close()
    print(report(command, args, latencies), flush=True)
    return 0


def report(command: str, args: argparse.Namespace, latencies: dict[str, list[float]]) -> str:
    def ms(values: list[float], q: float) -> str:
        return f"{1000 * nearest_rank(values, q):.1f}"

    rows: list[tuple[str, ...]] = [
        (name, str(len(values)), ms(values, 50), ms(values, 90)) for name, values in latencies.items()
    ]
    differences = [b - t for b, t in zip(latencies["baseline"], latencies["this"], strict=True)]
    header = [
        ("command", command),
        ("baseline", str(args.baseline)),
        ("actor", f"no-op {args.kind}, run-sync, {args.workers} workers per side"),
        ("software", software()),
    ]
    out = table_report(header, ("side", "n", "p50 ms", "p90 ms"), rows)
    ratio = nearest_rank(latencies["this"], 50) / nearest_rank(latencies["baseline"], 50)
    out.append(f"paired median (baseline - this): {1000 * statistics.median(differences):.1f} ms")
    out.append(f"p50 ratio (this / baseline): {ratio:.2f}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
