"""A standby: the next actor's process, forked and inside its memory group before its run arrives.

Starting an actor on the run's path cost, on this 2-core host: making its memory cgroup (3 ms),
forking the worker (3 ms; a process actor paid fork where subprocess would vfork, for its pre-exec
hook), and joining the cgroup in the child, for which cgroup v1 waits out an RCU grace period (7 to
17 ms). A worker now does all of it while it waits for its next job: the child sits in its group,
in a session of its own, and reads a pipe for its order: the run's callable to call, or the
program to exec. A worker with none ready (its first run, an attempt after a restart, a worker
in a test) makes one on the spot, which costs what the start used to. A long-lived worker's are
forked by its zygote (worker/runners/zygote.py), so that they share no page the worker writes.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import NoReturn

from server.settings import Settings
from server.storage.fork_gate import FORK_GATE
from worker.context import get_context
from worker.runners.base import RunSpec
from worker.runners.inprocess import EXIT_CALLABLE_RAISED, call_in_child
from worker.runners.zygote import Zygote, ZygoteGone
from worker.runners.zygote import available as zygote_available
from worker.sandbox import Sandbox, Slot, probe
from worker.sandbox.memory import MemoryLimit, group_parents, open_memory_limit, remove_orphan_groups
from worker.sandbox.tasks import TaskGroups, TaskLimits
from worker.supervisor import Child, die_with_parent

log = logging.getLogger(__name__)

_sequence = itertools.count()


@dataclass(frozen=True)
class Exec:
    """A process actor's order: exec argv (looked up on env's PATH) in cwd, with exactly env;
    `sandboxed`: argv starts the actor in its sandbox (worker/sandbox/)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    sandboxed: bool = False


Order = Exec | RunSpec  # a RunSpec: call its PYTHON_CALLABLE


class Standby:
    """A forked child waiting for its order, inside `limit` (apply() the run's cap before start())
    and the pids and CPU groups; with `slot`, the sandbox identity its actor will run as.

    Make it in a thread that outlives it: the child dies with the thread that forked it, or that
    made the `zygote` that forks it (PR_SET_PDEATHSIG follows the thread, not the process). The
    worker's main thread makes them.
    """

    def __init__(self, settings: Settings, zygote: Zygote | None = None) -> None:
        name = f"greenroom-{os.getpid()}-{next(_sequence)}"  # remove_orphan_groups reads the pid back
        self.limit: MemoryLimit = open_memory_limit(settings.memory_limit, None, name)
        limits = TaskLimits(settings.run_pids_max, settings.run_cpu_shares, settings.run_cpu_cores)
        self.tasks = TaskGroups(name, limits, self.limit)  # what it cannot make, it leaves out
        self.slot: Slot | None = None  # None: the run fails with the reason (sandbox on) or runs unsandboxed
        box = probe(settings) if settings.sandbox != "off" else None
        try:
            if isinstance(box, Sandbox):
                self.slot = box.slot()
        except BaseException:  # every uid taken: the groups go
            self._release()
            raise
        orders_read, self._orders = os.pipe()
        self._status, status_write = os.pipe()  # close-on-exec: EOF in here once the order is under way
        output_read, output_write = os.pipe()
        theirs = (orders_read, status_write, output_write)
        joins = [*self.limit.procs, *self.tasks.procs]
        try:
            if zygote is not None:
                pid = zygote.fork(joins, theirs)
            else:
                pid = _fork(joins, theirs, (self._orders, self._status, output_read))
        except OSError:  # EAGAIN, ENOMEM, the zygote gone: nothing is left behind
            for fd in (*theirs, self._orders, self._status, output_read):
                os.close(fd)
            self._release()
            raise
        for fd in theirs:
            os.close(fd)
        self.pid = pid
        self._output = os.fdopen(output_read, "rb")
        self._started = False

    def alive(self) -> bool:
        """Still waiting (WNOWAIT: an ended child is left for close() to reap)."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def start(self, order: Order) -> Child:
        """Hand the child its order; once the program is exec'd (or the callable is under way), the
        child to supervise. Raises what exec raised (OSError) when the program cannot start."""
        try:
            with os.fdopen(self._orders, "wb") as orders:
                pickle.dump(order, orders)
        except BrokenPipeError as exc:  # the child is gone (it could not enter its group)
            raise RuntimeError(f"the actor's process (pid {self.pid}) ended before its start") from exc
        with os.fdopen(self._status, "rb") as status:
            report = status.read()
        if report:
            os.waitpid(self.pid, 0)
            self._output.close()
            self._started = True  # and ended
            raise pickle.loads(report)
        self._started = True
        return Child(pid=self.pid, output=self._output, sandboxed=isinstance(order, Exec) and order.sandboxed)

    def close(self) -> None:
        """After the run (or instead of one): a child that got no order is stopped; the group goes."""
        if not self._started:
            with contextlib.suppress(OSError):
                os.close(self._orders)
            with contextlib.suppress(OSError):
                os.close(self._status)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self._output.close()
            self._started = True
        self._release()

    def _release(self) -> None:
        """Whatever is left in the groups is killed, the groups go, then the sandbox's scratch space
        and its uid."""
        try:
            self.limit.close()
            self.tasks.close()
        finally:
            if self.slot is not None:
                self.slot.close()


def _fork(joins: list[bytes], fds: tuple[int, int, int], ours: tuple[int, int, int]) -> int:
    """The standby forked from this worker (no zygote): its pid. `ours`: the worker's ends of the
    pipes, closed in the child (the order's reader sees EOF only once the worker closes its end)."""
    worker_pid = os.getpid()
    # Everything alive now moves to the permanent generation: the child's collections then skip
    # the whole inherited heap (and leave its pages shared).
    gc.freeze()
    with FORK_GATE.forking():  # a lock held by another thread now would be held in the child forever
        pid = os.fork()
    if pid == 0:
        for fd in ours:
            os.close(fd)
        _serve(joins, worker_pid, *fds)
    return pid


def _serve(joins: list[bytes], worker_pid: int, orders: int, status: int, output: int) -> NoReturn:
    """The child: enter the groups (their cgroup.procs files), wait for the order, then exec the
    program or call the callable."""
    code = 1
    try:
        os.setsid()  # first: until then, a kill of the group misses it (kill_group falls back to the pid)
        die_with_parent(worker_pid)
        for procs in joins:  # os-level calls only: another thread of the worker may hold a lock
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"%d" % os.getpid())
            finally:
                os.close(fd)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        with os.fdopen(orders, "rb") as pipe:
            data = pipe.read()
        if not data:  # closed unused: the worker is stopping, or made another
            os._exit(0)
        order = pickle.loads(data)
        if isinstance(order, Exec):
            _exec(order, status)
        os.close(status)
        # print() and logging go to the log even if the worker had replaced sys.stdout/stderr (a
        # test runner's capture, a log redirect): they write to fds 1 and 2 from now on.
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        code = call_in_child(order)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = EXIT_CALLABLE_RAISED
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exec(order: Exec, status: int) -> NoReturn:
    """As subprocess does it: only fds 0-2 cross the exec; a failure goes back over `status`."""
    try:
        os.chdir(order.cwd)
        os.closerange(3, status)
        os.closerange(status + 1, os.sysconf("SC_OPEN_MAX"))
        os.execvpe(order.argv[0], order.argv, order.env)
    except OSError as exc:  # named by the program, as subprocess does (not by the last PATH entry tried)
        error = OSError(exc.errno, exc.strerror, order.argv[0])
        with contextlib.suppress(OSError):
            os.write(status, pickle.dumps(error))
    os._exit(127)  # as a shell answers a command it cannot run


class Standbys:
    """This worker's standby: at most one, made between jobs by refill() once enabled (a long-lived
    worker: one in a test's burst would be left behind), and taken by the next attempt. A standby
    whose actor ended is retired: its groups and sandbox identity go between jobs too, after the run
    ended (removing the groups took about 1 ms of every run's path). Once enabled, its zygote forks
    them."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ready: Standby | None = None
        self._retired: list[Standby] = []
        self._enabled = False
        self._swept = False
        self._failed = False
        self._zygote: Zygote | None = None  # forks the standbys once enabled (worker/runners/zygote.py)
        self._zygote_failed = False

    def enable(self) -> None:
        """In the worker's main thread, at its start: the zygote, then the first standby."""
        self._enabled = True
        self._start_zygote()
        self.refill()

    def _start_zygote(self) -> None:
        if self._zygote_failed or not zygote_available():
            return
        try:
            self._zygote = Zygote(_serve)
        except OSError as exc:  # once: standbys are forked from the worker
            log.warning("could not start a zygote; standbys are forked from the worker: %s", exc)
            self._zygote_failed = True

    def preload(self, module: str) -> None:
        """A callable's module, imported in the zygote for the runs to come (see Zygote.preload)."""
        if self._zygote is not None:
            try:
                self._zygote.preload(module)
            except ZygoteGone as exc:
                self._lost_zygote(exc)

    def _lost_zygote(self, exc: ZygoteGone) -> None:
        """Its standbys are forked from the worker until the next refill makes a new one."""
        log.warning("%s; a new one is made between jobs", exc)
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None

    def take(self) -> Standby:
        ready, self._ready = self._ready, None
        if ready is not None and ready.alive():
            return ready
        if ready is not None:
            ready.close()
        return self._make()

    def retire(self, standby: Standby) -> None:
        """After its attempt: closed at the next refill (at once in a worker that never refills)."""
        if self._enabled:
            self._retired.append(standby)
        else:
            standby.close()

    def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for standby in retired:
            try:
                standby.close()
            except Exception:  # left behind, its groups go with this worker (remove_orphan_groups)
                log.warning("could not close a finished actor's groups", exc_info=True)

    def refill(self) -> None:
        self._close_retired()
        if not self._enabled or self._ready is not None:
            return
        if self._zygote is None:
            self._start_zygote()
        try:
            self._ready = self._make()
        except Exception as exc:  # the next run makes its own, and fails with the reason if it cannot
            if not self._failed:  # once: with GREENROOM_MEMORY_LIMIT=cgroup and no cgroup, every time
                # (or every sandbox uid taken)
                log.warning("could not make a standby actor process: %s", exc, exc_info=True)
            self._failed = True

    def close(self) -> None:
        self._close_retired()
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.close()
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()

    def _make(self) -> Standby:
        try:
            standby = Standby(self._settings, self._zygote)
        except ZygoteGone as exc:
            self._lost_zygote(exc)
            standby = Standby(self._settings)
        if not self._swept:  # once per worker: groups of workers that died (their children died with them)
            self._swept = True
            for parent in {*group_parents(standby.limit), *standby.tasks.parents}:
                remove_orphan_groups(parent)
        return standby


_current: tuple[tuple[int, Settings], Standbys] | None = None


def standbys() -> Standbys:
    """This process's, for its settings (built on first use, as the worker context is; a forked
    child has none, and a test that changes the settings gets new ones)."""
    global _current
    key = (os.getpid(), get_context().settings)
    if _current is None or _current[0] != key:
        if _current is not None and _current[0][0] == key[0]:
            _current[1].close()
        _current = (key, Standbys(key[1]))
    return _current[1]
