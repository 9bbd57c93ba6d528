"""What a standby's fork and its child's exit cost a worker, by the worker's size.

    .venv/bin/python bench/fork_cost.py [--forks 200] [--grow-mb 0 20 100]

A worker forks the next actor's process ahead of its run (worker/runners/standby.py); the kernel
copies the parent's page tables at the fork and frees the child's at its exit, so both grow with the
parent's memory. This imports what a worker imports, optionally grows the process by --grow-mb,
freezes the heap as a standby does, then forks children that exit at once: CPU per fork in the parent
and in the children, and wall time, for each size. The baseline is the first size (no growth).
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/fork_cost.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def forks(count: int) -> tuple[float, float, float]:
    """(parent CPU ms, child CPU ms, wall ms) per fork of a child that exits at once."""
    parent, children, wall = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return (
        1000 * (_cpu(resource.RUSAGE_SELF) - parent) / count,
        1000 * (_cpu(resource.RUSAGE_CHILDREN) - children) / count,
        1000 * (time.perf_counter() - wall) / count,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--forks", type=int, default=200)
    parser.add_argument("--grow-mb", type=int, nargs="+", default=[0, 20, 100])
    args = parser.parse_args(argv)
    import worker.main  # noqa: F401  (what a worker process holds)

    held: list[bytearray] = []
    base = None
    print("RSS MB  parent ms  child ms  wall ms  ratio (wall)")
    for grow in sorted(args.grow_mb):
        held += [bytearray(1 << 20) for _ in range(grow - len(held))]
        gc.freeze()
        parent, child, wall = forks(args.forks)
        base = base or wall
        print(f"{_rss_mb():6.0f}  {parent:9.2f}  {child:8.2f}  {wall:7.2f}  {wall / base:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
