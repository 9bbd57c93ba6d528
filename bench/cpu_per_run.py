"""Where the machine's CPU goes per run-sync, every process counted, beside a bare loop's (issue 15).

    .venv/bin/python bench/cpu_per_run.py [--kind process] [--clients 50] [--runs 600] [--workers 2]
        [--database-url ...] [--redis-url ...]

Throughput on this 2-core kind is CPU per run. bench/cost.py compares two checkouts by the API's and
the pool's CPU; this says what the whole machine spends on one run, so that a throughput target can
be read against it. While --clients clients run-sync a no-op task (--kind: a `pass` process actor or
a no-op callable), it reads the machine's busy time from /proc/stat and splits it per run:

  - the API process, the worker pool (its processes and the children they reaped), Redis (every
    redis-server on the machine), the kernel's threads (kworkers: a namespace's teardown, say), and
    this process (the HTTP clients);
  - the rest: processes that none of those reaped (a sandboxed actor's, whose pid namespace's init
    reaps it) and anything else the machine ran meanwhile.

For a process actor it then runs --workers bare `subprocess.run([python, main.py])` loops of the
same file and prints their CPU per run the same way: what the issue's throughput row compares with.
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/cpu_per_run.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, add_redis_url, command_line
from bench.common import api_client, cpu_s, greenroom_settings, setup, start_greenroom, tree_cpu_s
from bench.run_sync import NOOP_VERSIONS, create_task
from bench.versus import OUT_OF_THE_WAY
from bench.versus_rows import spread

_TICKS = os.sysconf("SC_CLK_TCK")


def _busy_s() -> float:
    """The machine's CPU seconds not idle (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(v) for v in stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / _TICKS


def _processes(select: Callable[[str, int], bool]) -> float:
    """CPU seconds (with reaped children) of every live process whose name and parent pid match."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            name = Path(f"/proc/{entry}/comm").read_text().strip()
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if select(name, parent):
            total += cpu_s(int(entry))
    return total


def _own_s() -> float:
    times = os.times()
    return times.user + times.system


class Split:
    """Readings of every part, before and after a phase."""

    def __init__(self, api_pid: int | None, pool_pid: int | None) -> None:
        self.api_pid, self.pool_pid = api_pid, pool_pid

    def read(self) -> dict[str, float]:
        return {
            "machine": _busy_s(),
            "API": cpu_s(self.api_pid) if self.api_pid else 0.0,
            "worker pool": tree_cpu_s(self.pool_pid) if self.pool_pid else 0.0,
            "Redis": _processes(lambda name, _parent: name == "redis-server"),
            "kernel threads": _processes(lambda _name, parent: parent == 2),
            "this process (clients)": _own_s(),
        }


def _per_run_ms(before: dict[str, float], after: dict[str, float], runs: int) -> dict[str, float]:
    spent = {part: (after[part] - before[part]) * 1000 / runs for part in before}
    spent["the rest"] = spent["machine"] - sum(v for k, v in spent.items() if k != "machine")
    return spent


def _bare_loops(workers: int, runs: int) -> tuple[float, dict[str, float]]:
    """runs/s and CPU per run of `workers` threads running `python main.py` (main.py: `pass`)."""
    with tempfile.TemporaryDirectory() as tmp:
        main_py = Path(tmp) / "main.py"
        main_py.write_text("pass\n")

        def make(_: int) -> Callable[[], None]:
            return lambda: subprocess.run([sys.executable, str(main_py)], check=True)

        split = Split(None, None)
        before = split.read()
        rate = spread(workers, runs, make)
        return rate, _per_run_ms(before, split.read(), runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", choices=sorted(NOOP_VERSIONS), default="process")
    parser.add_argument("--clients", type=int, default=50, help="run-sync clients (50)")
    parser.add_argument("--runs", type=int, default=600, help="runs measured (600)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, and bare loops (2)")
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    columns: list[tuple[str, float, dict[str, float]]] = []
    with setup(args.redis_url, args.database_url) as bench:
        settings = greenroom_settings(bench, **OUT_OF_THE_WAY)
        api, pool = start_greenroom(bench, settings, args.workers)
        with api_client(settings.api_base_url, bench.token, timeout=60) as admin:
            task = create_task(admin, f"noop-{args.kind}", NOOP_VERSIONS[args.kind])

        def make(_: int) -> Callable[[], None]:
            client = api_client(settings.api_base_url, bench.token, timeout=120)
            return lambda: client.post(f"/actor-tasks/{task}/run-sync").raise_for_status()

        spread(args.clients, args.clients * 4, make)  # warm: standbys made, connections open
        split = Split(api.pid, pool.pid)
        before = split.read()
        rate = spread(args.clients, args.runs, make)
        columns.append(
            (
                f"Greenroom run-sync, {args.clients} clients",
                rate,
                _per_run_ms(before, split.read(), args.runs),
            )
        )
    if args.kind == "process":
        time.sleep(1)  # what Greenroom's stop left to the kernel's threads
        rate, spent = _bare_loops(args.workers, args.runs // 2)
        columns.append((f"{args.workers} bare subprocess.run loops", rate, spent))
    print(f"command: {command_line('bench/cpu_per_run.py', argv)}")
    print(f"load: {os.getloadavg()[0]:.1f}")
    parts = list(columns[0][2])
    width = max(len(p) for p in parts) + 2
    print("CPU ms per run".ljust(width) + "".join(f"{name:>36}" for name, _, _ in columns))
    print("runs/s".ljust(width) + "".join(f"{rate:>36.1f}" for _, rate, _ in columns))
    for part in parts:
        print(part.ljust(width) + "".join(f"{spent[part]:>36.1f}" for _, _, spent in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
