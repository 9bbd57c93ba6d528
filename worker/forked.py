"""The worker pool's children (run workers, webhook workers, the proxy), forked from one process
that imported them once.

Started as `python -m worker` each, every worker paid about 0.9 s of CPU for its imports (the server
and worker modules, SQLAlchemy, RQ, redis-py) at each start and restart: a pool of two workers and
two webhook workers, 3.6 s, which a 2-core host spends before the pool takes its first run, and again
for a worker that died. multiprocessing's forkserver imports them once, in a process of its own that
has no thread and no connection (nothing here opens one at import), and forks each child from it.
A child gets the environment it would have had as a command (`env`), then reads its settings from it.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import subprocess
from multiprocessing import forkserver
from pathlib import Path
from typing import Literal

from server.settings import Settings

Kind = Literal["worker", "webhooks", "proxy"]

# What `ps -e`, `top` and /proc/<pid>/comm call each child (at most 15 bytes): their command line is
# the forkserver's.
NAMES: dict[Kind, str] = {
    "worker": "greenroom-runs",
    "webhooks": "greenroom-hooks",
    "proxy": "greenroom-proxy",
}
_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1

# Imported by the forkserver before its first fork: the children's entry points and all they import.
_PRELOAD = ["worker.main", "worker.proxy.main", "worker.forked"]


def _child(kind: Kind, env: dict[str, str]) -> None:
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_NAME, NAMES[kind].encode(), 0, 0, 0)
    # A pool killed on its own (SIGKILL to its pid, not its process group; an OOM kill) would leave
    # its children working on, reparented to init, for good. The forkserver exits once every holder
    # of its "alive" pipe has closed it: the pool, and each child it forked, which inherits it so
    # that a child could start processes from it too (these never do). Closed here, the forkserver
    # exits with the pool, and its death stops the children as the pool's stop would (SIGTERM: a
    # run's actor gets its grace). The signal is set first: the pool may be gone already.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    alive = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    os.environ.clear()
    os.environ.update(env)
    settings = Settings.from_env()
    if kind == "proxy":
        from worker.proxy.main import run_proxy

        run_proxy(settings)
    else:
        from worker.main import run_worker

        run_worker(settings, webhooks=kind == "webhooks")


class Forked:
    """A child as the pool supervises it, with subprocess.Popen's calls: poll, send_signal, wait,
    kill and returncode."""

    def __init__(self, process: multiprocessing.process.BaseProcess):
        assert process.pid is not None, "a started process"
        self._process = process
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("worker", timeout or 0)
        return self._process.exitcode


class Forker:
    """Starts the pool's children from its forkserver (itself started with the first child: make
    this once the environment the children inherit is set, after configure_metrics)."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)

    def start(self, kind: Kind) -> Forked:
        process = self._context.Process(target=_child, args=(kind, self.env), name=f"greenroom-{kind}")
        process.start()
        return Forked(process)


def pool_children(pool_pid: int, kind: Kind) -> list[int]:
    """A pool's live children of one kind, found by name (for tests, benches and operators' scripts):
    the children of its forkserver, not a worker's own children before their exec (its standbys),
    which have its name too."""
    name = NAMES[kind]
    return [pid for pid in descendants(pool_pid) if _comm(pid) == name and _comm(_parent(pid)) != name]


def descendants(pid: int) -> list[int]:
    """Every live process under `pid`: children, theirs, and so on."""
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return [pid for pid in found if _stat(pid)[:1] not in ([], ["Z"])]


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the name: state, parent, ... (none once it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _parent(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
