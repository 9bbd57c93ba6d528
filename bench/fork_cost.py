"""What a standby's fork and its child's exit cost a worker, by the worker's size.

    .venv/bin/python bench/fork_cost.py [--forks 200] [--grow-mb 0 20 100] [--pages 20000]

A worker forks the next actor's process ahead of its run (worker/runners/standby.py); the kernel
copies the parent's page tables at the fork and frees the child's at its exit, so both grow with the
parent's memory. This imports what a worker imports, optionally grows the process by --grow-mb,
freezes the heap as a standby does, then forks children that exit at once: CPU per fork in the parent
and in the children, and wall time, for each size. The baseline is the first size (no growth).

Then, at the first size, what a whole standby costs (its cgroups and sandbox identity too): made and
closed unused, and made and given a no-op PYTHON_CALLABLE to run, for each sandbox and memory mode
this host can run.

Then a process actor's standby, made and given /bin/true to exec, forked by each kind of zygote
(worker/runners/zygote.py): a copy of this worker (the baseline), and a fresh interpreter, which
process actors' standbys come from. CPU counts the zygote's, the standby's and this process's.

Last, what a worker pays for a page it writes while a forked child (its standby, its callable's
actor) still shares it: the kernel copies the page at the write (a copy-on-write fault). Python
writes to every object it touches (reference counts), so a worker's pages are copied anew after each
fork; bench/cost.py counts the pool's page faults per run. The baseline is the same write to a page
no child shares. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.runners.base import RunSpec

if __package__ in (None, ""):  # run as `python bench/fork_cost.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _timed(count: int, body: Callable[[], None]) -> tuple[float, float, float]:
    """(parent CPU ms, reaped children's CPU ms, wall ms) per call of body()."""
    parent, children, wall = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    for _ in range(count):
        body()
    return (
        1000 * (_cpu(resource.RUSAGE_SELF) - parent) / count,
        1000 * (_cpu(resource.RUSAGE_CHILDREN) - children) / count,
        1000 * (time.perf_counter() - wall) / count,
    )


def _fork() -> None:
    """A child that exits at once."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def standby_costs(count: int) -> list[str]:
    """A standby as a worker makes one between runs (worker/runners/standby.py: its groups, its
    sandbox identity, the fork), closed unused, then given a no-op PYTHON_CALLABLE (bench/noop.py)
    and waited for, for each sandbox and memory mode this host has."""
    from server.settings import Settings
    from worker.context import configure, get_context
    from worker.runners.inprocess import load_callable
    from worker.runners.standby import Standby

    spec = _noop_spec()
    load_callable(spec)  # as the worker does before the run's start

    def closed(settings: Settings) -> None:
        Standby(settings).close()

    def run(settings: Settings) -> None:
        standby = Standby(settings)
        child = standby.start(spec)
        child.output.read()
        os.waitpid(child.pid, 0)
        standby.close()

    lines = ["standby                                  parent ms  child ms  wall ms"]
    with tempfile.TemporaryDirectory() as data_dir:
        for sandbox, memory in (("off", "off"), ("off", "cgroup"), ("on", "cgroup")):
            mode = f"sandbox {sandbox:3}, memory {memory:6}"
            settings = replace(
                Settings.from_env(), sandbox=sandbox, memory_limit=memory, data_dir=Path(data_dir)
            )
            configure(settings)
            get_context()  # as a worker makes it at its start: its engine, inherited by the fork
            try:
                Standby(settings).close()
            except Exception as exc:  # not root, no cgroup, no bubblewrap
                lines.append(f"{mode}: not here ({exc})")
                continue
            for what, body in (("closed", closed), ("no-op", run)):
                parent, child, wall = _timed(count, functools.partial(body, settings))
                lines.append(f"{mode}, {what:6}   {parent:9.2f}  {child:8.2f}  {wall:7.2f}")
    return lines


def program_standby_costs(count: int) -> list[str]:
    """A standby with no cgroup or sandbox, forked by each kind of zygote, given /bin/true to exec
    and reaped: CPU per standby (this process's, the zygote's and the standby's) and wall time."""
    from bench.common import cpu_s
    from server.settings import Settings
    from worker.context import configure, get_context
    from worker.runners.standby import Standby, serve_callables
    from worker.runners.standby_child import Exec
    from worker.runners.zygote import Zygote

    settings = replace(Settings.from_env(), sandbox="off", memory_limit="off")
    configure(settings)
    get_context()
    order = Exec(argv=["/bin/true"], cwd="/", env={"PATH": os.defpath})

    def program(zygote: Zygote) -> None:
        standby = Standby(settings, zygote)
        child = standby.start(order)
        child.output.read()
        os.waitpid(child.pid, 0)
        standby.close()

    lines = ["process actor's standby, exec /bin/true   CPU ms  wall ms  ratio (CPU)"]
    base = None
    for name, kind in (("a copy of this worker", serve_callables), ("a fresh interpreter", None)):
        zygote = Zygote(kind)
        try:
            program(zygote)  # the zygote is up
            before = cpu_s(zygote.pid)
            parent, children, wall = _timed(count, functools.partial(program, zygote))
            cpu = parent + children + 1000 * (cpu_s(zygote.pid) - before) / count
        finally:
            zygote.close()
        base = base or cpu
        lines.append(f"forked by {name:30} {cpu:7.2f}  {wall:7.2f}  {cpu / base:11.2f}")
    return lines


def copy_on_write_cost(pages: int) -> list[str]:
    """CPU per page written by this process (one byte in each of `pages` pages): with no child, then
    while a forked child that only sleeps shares them."""
    memory = bytearray(pages * _PAGE)
    memory[::_PAGE] = b"\1" * pages  # every page present before the measured writes

    def write(value: bytes) -> float:
        began = time.thread_time()
        memory[::_PAGE] = value * pages
        return 1e6 * (time.thread_time() - began) / pages

    alone = write(b"\2")
    read, wait = os.pipe()
    pid = os.fork()
    if pid == 0:  # shares every page until it exits
        os.close(wait)
        os.read(read, 1)
        os._exit(0)
    os.close(read)
    shared = write(b"\3")
    os.close(wait)
    os.waitpid(pid, 0)
    return [
        "page written by the worker       us per page  ratio",
        f"no child shares it                {alone:11.2f}   1.00",
        f"a forked child shares it          {shared:11.2f}  {shared / alone:5.1f}",
    ]


def _noop_spec() -> RunSpec:
    from bench.noop import NOOP_CALLABLE
    from worker.runners.base import RunSpec

    return RunSpec(
        run_id="r",
        user_id="u",
        act_id="a",
        build_id="b",
        default_dataset_id="d",
        username="bench",
        actor_name="noop",
        actor_task_id=None,
        build_number="0.0.1",
        source={"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE},
        options={"memoryMbytes": 1024},
        default_key_value_store_id="k",
        default_request_queue_id="q",
        started_at="",
        token="t",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--forks", type=int, default=200)
    parser.add_argument("--grow-mb", type=int, nargs="+", default=[0, 20, 100])
    parser.add_argument("--pages", type=int, default=20000, help="pages written, copy-on-write (20000)")
    args = parser.parse_args(argv)
    import worker.main  # noqa: F401  (what a worker process holds)

    held: list[bytearray] = []
    base = None
    print("RSS MB  parent ms  child ms  wall ms  ratio (wall)")
    for grow in sorted(args.grow_mb):
        held += [bytearray(1 << 20) for _ in range(grow - len(held))]
        gc.freeze()
        parent, child, wall = _timed(args.forks, _fork)
        base = base or wall
        print(f"{_rss_mb():6.0f}  {parent:9.2f}  {child:8.2f}  {wall:7.2f}  {wall / base:5.2f}")
        if grow == min(args.grow_mb):
            standbys = standby_costs(args.forks)
    print(f"\nat {min(args.grow_mb)} MB grown:")
    print("\n".join(standbys))
    print()
    print("\n".join(program_standby_costs(args.forks)))
    print()
    print("\n".join(copy_on_write_cost(args.pages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
