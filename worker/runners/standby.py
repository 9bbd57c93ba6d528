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
import functools
import gc
import itertools
import logging
import os
import pickle
import signal
import socket
from collections.abc import Hashable
from typing import Literal

from server.settings import Settings
from server.storage.fork_gate import FORK_GATE
from worker.context import get_context
from worker.meter import cpu_of
from worker.runners.base import RunSpec
from worker.runners.inprocess import call_in_child
from worker.runners.standby_child import Exec, send_order, serve
from worker.runners.zygote import Zygote, ZygoteGone
from worker.runners.zygote import available as zygote_available
from worker.sandbox import Sandbox, Slot, probe
from worker.sandbox.memory import MemoryLimit, group_parents, open_memory_limit, remove_orphan_groups
from worker.sandbox.tasks import TaskGroups, TaskLimits
from worker.sandbox.views import order_script
from worker.supervisor import Child

log = logging.getLogger(__name__)

_sequence = itertools.count()


Order = Exec | RunSpec  # a RunSpec: call its PYTHON_CALLABLE
# What a standby is made for: a process actor's program, or a callable (worker/runners/zygote.py: each
# kind has its zygote).
Kind = Literal["program", "callable"]


def kind_of(spec: RunSpec) -> Kind:
    return "callable" if spec.source["sourceType"] == "PYTHON_CALLABLE" else "program"


# What a standby forked from this worker (or from its copy, the callables' zygote) runs: a program or
# a callable. call_in_child is imported here, before the zygote is made, so that a callable's child
# has it (importing it there, per run, cost a no-op callable's run a third more of the pool's CPU).
serve_callables = functools.partial(serve, call=call_in_child)


class Standby:
    """A forked child waiting for its order, inside `limit` (apply() the run's cap before start())
    and the pids and CPU groups; with `slot`, the sandbox identity its actor will run as.

    Make it in a thread that outlives it: the child dies with the thread that forked it, or that
    made the `zygote` that forks it (PR_SET_PDEATHSIG follows the thread, not the process). The
    worker's main thread makes them.

    A callable's standby may stay after its run (start()'s `stay_for`), with its process and its
    groups, for the next run of the same key: Standbys keeps one.
    """

    def __init__(self, settings: Settings, zygote: Zygote | None = None, *, premade: bool = False) -> None:
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
        self._runs_max = settings.callable_process_runs
        self.runs = 0
        self.key: Hashable | None = None  # what runs it may serve after the one it serves now
        self.stayed = False  # its last run ended without it: it waits for the next order
        self._channel, orders = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._status, status_write = os.pipe()  # close-on-exec: EOF in here once the order is under way
        output_read, output_write = os.pipe()
        theirs = (orders.detach(), status_write, output_write)
        joins = [*self.limit.procs, *self.tasks.procs]
        try:
            if zygote is not None:
                pid = zygote.fork(joins, theirs)
            else:
                pid = _fork(joins, theirs, (self._channel.fileno(), self._status, output_read))
        except OSError:  # EAGAIN, ENOMEM, the zygote gone: nothing is left behind
            for fd in (*theirs, self._status, output_read):
                os.close(fd)
            self._channel.close()
            self._release()
            raise
        for fd in theirs:
            os.close(fd)
        self.pid = pid
        self._output = os.fdopen(output_read, "rb")
        self._started = False
        self._script: int | None = None  # a premade sandbox's order pipe (premade())
        if premade and isinstance(box, Sandbox) and box.premade and self.slot is not None:
            try:
                self._premake(self.slot)
            except BaseException:
                self.close()
                raise

    @property
    def premade(self) -> bool:
        """Its sandbox is made and waits for the run's order (worker/sandbox/views.py)."""
        return self._script is not None  # given to the waiter at its start

    def _premake(self, slot: Slot) -> None:
        """The sandbox made now: bwrap exec'd with the waiter, which reads its order on a pipe."""
        script_read, script_write = os.pipe()
        try:
            os.fchown(script_read, slot.uid, slot.uid)  # the waiter, as the sandbox's uid, opens it again
            self._send(
                Exec(argv=slot.premade_command(), cwd="/", env={}, sandboxed=True), False, [script_read]
            )
        except BaseException:
            os.close(script_write)
            raise
        finally:
            os.close(script_read)
        self._script = script_write
        self._exec_done()

    def alive(self) -> bool:
        """Still waiting (WNOWAIT: an ended child is left for close() to reap)."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def start(self, order: Order, stay_for: Hashable | None = None) -> Child:
        """Hand the child its order; once the program is exec'd (or the callable is under way), the
        child to supervise. Raises what exec raised (OSError) when the program cannot start.
        `stay_for`: a callable's process may stay after this run for another of that key (until
        GREENROOM_CALLABLE_PROCESS_RUNS), reporting the run's end on Child.ends."""
        stay = stay_for is not None and self.runs + 1 < self._runs_max
        self.key, self.runs = (stay_for if stay else None), self.runs + 1
        if self.stayed:
            return self._start_again(order, stay)
        if self.premade:
            return self._start_premade(order)
        self._send(order, stay, [])
        self._exec_done()
        self._started = True
        sandboxed = isinstance(order, Exec) and order.sandboxed
        return Child(pid=self.pid, output=self._output, sandboxed=sandboxed, ends=self._ends(stay))

    def _exec_done(self) -> None:
        """Once the child exec'd its order; raises what exec raised."""
        with os.fdopen(self._status, "rb") as status:
            self._status = -1
            report = status.read()
        if report:
            os.waitpid(self.pid, 0)
            self._output.close()
            self._started = True  # and ended
            raise pickle.loads(report)

    def _start_premade(self, order: Order) -> Child:
        """The order to the premade sandbox's waiter, as a script (order_script): its build is
        shown in it already (Slot.show)."""
        if not isinstance(order, Exec):
            raise TypeError("a premade sandbox runs programs only")
        script, self._script = self._script, None
        assert script is not None
        try:
            with os.fdopen(script, "wb") as pipe:
                pipe.write(order_script(order.argv, order.cwd, order.env))
        except OSError as exc:  # the waiter is gone
            raise RuntimeError(f"the actor's sandbox (pid {self.pid}) ended before its start") from exc
        self._started = True
        return Child(pid=self.pid, output=self._output, sandboxed=True)

    def _start_again(self, order: Order, stay: bool) -> Child:
        """The next run of a process that stayed: its output pipe goes with the order. A process
        that is gone stays `stayed`, for close() to reap."""
        self.limit.reset_peak()
        output_read, output_write = os.pipe()
        try:
            self._send(order, stay, [output_write])
        except BaseException:
            os.close(output_read)
            raise
        finally:
            os.close(output_write)
        self.stayed = False
        output = os.fdopen(output_read, "rb")
        return Child(pid=self.pid, output=output, ends=self._ends(stay), cpu_before_s=cpu_of(self.pid))

    def _send(self, order: Order, stay: bool, fds: list[int]) -> None:
        """The order to the child; its end of the orders socket closed unless it may stay."""
        try:
            send_order(self._channel, order, stay, fds)
        except OSError as exc:  # the child is gone (it could not enter its group, or it died)
            raise RuntimeError(f"the actor's process (pid {self.pid}) ended before its start") from exc
        finally:
            if not stay:
                self._channel.close()

    def _ends(self, stay: bool) -> socket.socket | None:
        return self._channel if stay else None

    def stays(self, child: Child) -> bool:
        """After its run: whether the process stayed, whole, for another (see supervise)."""
        self.stayed = child.stayed and self.key is not None and not self.limit.exceeded(0)
        return self.stayed

    def close(self) -> None:
        """After the run (or instead of one): a child that got no order, or that stayed, is stopped;
        the group goes."""
        self._channel.close()
        if self._status >= 0:
            os.close(self._status)
            self._status = -1
        if self._script is not None:
            os.close(self._script)
            self._script = None
        if not self._started or self.stayed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self._output.close()
            self._started, self.stayed = True, False
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
        serve_callables(joins, worker_pid, *fds)
    return pid


class Standbys:
    """This worker's standbys: at most one of each kind it runs (programs; callables too when
    GREENROOM_CALLABLE_MODULES allows any), made between jobs by refill() once enabled (a long-lived
    worker: one in a test's burst would be left behind), and taken by the next attempt of that kind.
    A standby whose actor ended is retired: its groups and sandbox identity go between jobs too, after
    the run ended (removing the groups took about 1 ms of every run's path). Once enabled, each kind's
    zygote forks them.

    A callable's process may stay after its run, with its groups, for the next run of the same user's
    same callable (GREENROOM_CALLABLE_PROCESS_RUNS), as a Celery pool process serves task after task:
    its fork, its groups' making and removal and its exit were most of a no-op callable run's cost to
    the pool (bench/profile.py --kind callable). One is kept, the last to stay; a run of another key
    takes a new standby. Never across users: a process holds what its runs left in memory.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._kinds: tuple[Kind, ...] = ("program", "callable") if settings.callable_modules else ("program",)
        self._ready: dict[Kind, Standby] = {}
        # A callable's process that stayed after its run, for the next of the same user's callable.
        self._warm: Standby | None = None
        self._retired: list[Standby] = []
        self._enabled = False
        self._swept = False
        self._failed = False
        # Fork the standbys once enabled (worker/runners/zygote.py): a fresh interpreter's for
        # programs, a copy of the worker's for callables.
        self._zygotes: dict[Kind, Zygote] = {}
        self._zygote_failed: set[Kind] = set()

    def enable(self) -> None:
        """In the worker's main thread, at its start: the zygotes, then the first standbys."""
        self._enabled = True
        for kind in self._kinds:
            self._start_zygote(kind)
        self.refill()

    def _start_zygote(self, kind: Kind) -> None:
        if kind in self._zygote_failed or not zygote_available():
            return
        try:
            self._zygotes[kind] = Zygote(serve_callables if kind == "callable" else None)
        except OSError as exc:  # once: standbys are forked from the worker
            log.warning("could not start a zygote; %s standbys are forked from the worker: %s", kind, exc)
            self._zygote_failed.add(kind)

    def preload(self, module: str) -> None:
        """A callable's module, imported in the callables' zygote for the runs to come (see
        Zygote.preload)."""
        zygote = self._zygotes.get("callable")
        if zygote is not None:
            try:
                zygote.preload(module)
            except ZygoteGone as exc:
                self._lost_zygote("callable", exc)

    def _lost_zygote(self, kind: Kind, exc: ZygoteGone) -> None:
        """Its standbys are forked from the worker until the next refill makes a new one."""
        log.warning("%s; a new one is made between jobs", exc)
        zygote = self._zygotes.pop(kind, None)
        if zygote is not None:
            zygote.close()

    def take(self, kind: Kind, key: Hashable | None = None) -> Standby:
        """A standby for the next attempt of `kind`: the process that stayed after a run of `key`
        (a callable's: worker/jobs.py), else a new one."""
        warm = self._warm
        if key is not None and warm is not None and warm.key == key:
            self._warm = None
            if warm.alive():
                return warm
            warm.close()
        ready = self._ready.pop(kind, None)
        if ready is not None and ready.alive():
            return ready
        if ready is not None:
            ready.close()
        return self._make(kind)

    def retire(self, standby: Standby, child: Child | None = None) -> None:
        """After its attempt (`child`: the actor it ran): kept for the next run of its key if its
        process stayed (replacing the one kept before), else closed at the next refill (at once in a
        worker that never refills)."""
        if self._enabled and child is not None and standby.stays(child):
            before, self._warm = self._warm, standby
            if before is None:
                return
            standby = before
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
        if not self._enabled:
            return
        for kind in self._kinds:
            if kind in self._ready:
                continue
            if kind not in self._zygotes:
                self._start_zygote(kind)
            try:
                self._ready[kind] = self._make(kind)
            except Exception as exc:  # the next run makes its own, and fails with the reason if it cannot
                if not self._failed:  # once: with GREENROOM_MEMORY_LIMIT=cgroup and no cgroup, every time
                    # (or every sandbox uid taken)
                    log.warning("could not make a standby actor process: %s", exc, exc_info=True)
                self._failed = True

    def close(self) -> None:
        self._close_retired()
        if self._warm is not None:
            self._warm.close()
            self._warm = None
        ready, self._ready = self._ready, {}
        for standby in ready.values():
            standby.close()
        zygotes, self._zygotes = self._zygotes, {}
        for zygote in zygotes.values():
            zygote.close()

    def _make(self, kind: Kind) -> Standby:
        try:
            standby = Standby(self._settings, self._zygotes.get(kind), premade=kind == "program")
        except ZygoteGone as exc:
            self._lost_zygote(kind, exc)
            standby = Standby(self._settings, premade=kind == "program")
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
