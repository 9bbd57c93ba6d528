"""Supervise one actor process: capture its output, enforce the timeout, reap it, measure it.

The actor runs in its own session (process group), so a timeout kills everything it started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from worker.logs import LogWriter, pump
from worker.meter import Meter, tree_usage
from worker.runners.base import RunOutcome
from worker.runners.standby_child import ENDED
from worker.sandbox.memory import MemoryLimit

logger = logging.getLogger(__name__)


@dataclass
class Child:
    """A started actor process: its pid (also its process group id) and its merged stdout/stderr;
    `sandboxed`: the pid is the sandbox's bwrap, and the actor runs inside (worker/sandbox/jail.py).

    A callable's process that may stay for another run reports its run's end on `ends`
    (worker/runners/standby_child.py ENDED) instead of exiting; supervise() then sets `stayed`.
    `cpu_before_s`: the CPU it had used before this run (its earlier runs')."""

    pid: int
    output: IO[bytes]
    sandboxed: bool = False
    ends: socket.socket | None = None
    cpu_before_s: float = 0.0
    stayed: bool = False


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal the actor's process group; a forked child that has not made its group yet (an abort
    right after the start) is signalled by its pid, which is the group's id to be."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)
    except PermissionError:
        pass


def signal_actor(child: Child, sig: signal.Signals) -> None:
    """Signal everything the actor runs. In a sandbox, SIGKILL goes to bwrap, which takes the whole
    pid namespace with it; any other signal goes to the processes of the group but bwrap's two (a
    SIGTERM would end bwrap, and the namespace with it, before the actor could handle it)."""
    if not child.sandboxed or sig == signal.SIGKILL:
        kill_group(child.pid, sig)
        return
    members = _group_members(child.pid)
    for pid, parent in members.items():
        if pid != child.pid and parent != child.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def _group_members(pgid: int) -> dict[int, int]:
    """pid -> parent pid of every process in the process group `pgid` (from /proc)."""
    members = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members[int(entry)] = int(fields[1])
    return members


def _exited_within(pidfd: int, timeout_s: float | None) -> bool:
    ready, _, _ = select.select([pidfd], [], [], timeout_s)
    return bool(ready)


class AbortSignal(Protocol):
    """Readable (fileno) once the run should abort; graceful() says how."""

    def fileno(self) -> int: ...

    def graceful(self) -> bool: ...


class StopSignal(Protocol):
    """Readable (fileno) when the worker is told to stop; stop_at() says until when the actor may go on."""

    def fileno(self) -> int: ...

    def stop_at(self, grace_s: float) -> float | None: ...


class Readable(Protocol):
    """Readable (fileno) when something happened: a reboot asked for."""

    def fileno(self) -> int: ...


class AbortAudience(Protocol):
    """The run's events websocket: aborting() tells the actor, True if it was listening."""

    def aborting(self) -> bool: ...


def _stop(pidfd: int, child: Child, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if the actor is still there after grace_s (0: SIGKILL at once)."""
    if grace_s > 0:
        signal_actor(child, signal.SIGTERM)
        if _exited_within(pidfd, grace_s):
            return
    signal_actor(child, signal.SIGKILL)


def supervise(
    child: Child,
    log: LogWriter,
    timeout_s: float | None,
    kill_grace_s: float,
    on_timing_out: Callable[[], None],
    abort: AbortSignal | None = None,
    abort_grace_s: float = 30.0,
    *,
    limit: MemoryLimit | None = None,
    meter: Meter | None = None,
    on_sample: Callable[[], None] | None = None,
    events: AbortAudience | None = None,
    stop: StopSignal | None = None,
    stop_grace_s: float = 30.0,
    on_stopping: Callable[[], None] | None = None,
    reboot: Readable | None = None,
) -> RunOutcome:
    """Wait for the actor's end, a timeout, an abort, its memory going over `limit`, the end of
    the grace period after `stop` (its worker is stopping; `on_stopping` is called when that starts),
    or a `reboot` (the actor's processes are stopped; the caller starts it again).

    Every `limit.sample_interval_s` the actor's memory and CPU go to `meter` (then `on_sample` is
    called); the outcome's stats are the meter's, so a run of several attempts passes the same meter.
    """
    limit = limit or MemoryLimit()
    meter = meter or Meter(memory_mbytes=0)
    meter.start_attempt()
    started = time.monotonic()
    reader = threading.Thread(target=pump, args=(child.output, log), daemon=True)
    reader.start()
    pidfd = os.pidfd_open(child.pid)
    timed_out = aborted = out_of_memory = worker_stopped = rebooted = False
    deadline = None if timeout_s is None else started + timeout_s
    next_sample = started + limit.sample_interval_s
    stop_at: float | None = None
    ready: list[int] = []
    watched = [pidfd, *(s.fileno() for s in (child.ends, abort, stop, reboot) if s is not None)]
    ended: tuple[int, float, int] | None = None  # ENDED: the report of a run whose process stayed
    try:
        while True:
            if stop is not None and (stop_at is None or stop.fileno() in ready):
                # Also read before the first wait: a stop asked for before this attempt started.
                stopping = stop_at is not None
                stop_at = stop.stop_at(stop_grace_s)
                if stop_at is not None and not stopping:
                    log.line(f"[greenroom] The worker is stopping: the run has {stop_grace_s:g} s to finish.")
                    if on_stopping is not None:
                        on_stopping()
            now = time.monotonic()
            wake = min(t for t in (next_sample, deadline, stop_at) if t is not None)
            ready, _, _ = select.select(watched, [], [], max(0.0, wake - now))
            if pidfd in ready:
                break
            if child.ends is not None and child.ends.fileno() in ready:
                ended = _ended(child.ends)
                if ended is not None:
                    break
                watched.remove(child.ends.fileno())  # it is exiting: the pidfd says when
            if abort is not None and abort.fileno() in ready:
                aborted = True
                graceful = abort is not None and abort.graceful()
                log.line(f"[greenroom] Aborting the run{' gracefully' if graceful else ''}.")
                if graceful and events is not None and events.aborting():
                    # The actor heard `aborting` on its events websocket: as on Apify, it has the
                    # whole grace period to end by itself; only then SIGTERM, then SIGKILL.
                    if not _exited_within(pidfd, abort_grace_s):
                        _stop(pidfd, child, kill_grace_s)
                else:
                    _stop(pidfd, child, abort_grace_s if graceful else 0)
                break
            if reboot is not None and reboot.fileno() in ready:
                # As Apify stops the container: the SDK persisted its state before asking, and
                # sleeps until it is stopped.
                rebooted = True
                log.line("[greenroom] Stopping the Actor for its reboot.")
                _stop(pidfd, child, kill_grace_s)
                break
            now = time.monotonic()
            if stop_at is not None and now >= stop_at:
                worker_stopped = True
                log.line("[greenroom] The run did not finish before its worker stopped: stopping the Actor.")
                _stop(pidfd, child, kill_grace_s)
                break
            if deadline is not None and now >= deadline:
                timed_out = True
                on_timing_out()
                _stop(pidfd, child, kill_grace_s)
                break
            if now >= next_sample:
                next_sample = now + limit.sample_interval_s
                if _sample(child, limit, meter):
                    out_of_memory = True
                    log.line(_oom_line(limit))
                    # The whole group goes, as cgroup v2's memory.oom.group does it.
                    _stop(pidfd, child, 0)
                    break
                if on_sample is not None:
                    try:
                        on_sample()
                    except Exception:  # live stats are a nicety: the actor goes on regardless
                        logger.warning("on_sample failed for pid %s", child.pid, exc_info=True)
        if ended is None:
            _, status, usage = os.wait4(child.pid, 0)
    finally:
        os.close(pidfd)
    if ended is not None:
        code, cpu_s, maxrss_bytes = ended
        child.stayed = _alone(child.pid, limit)
        if not child.stayed:
            # It reported its run's end, but something of the run is left in its groups: the
            # process goes with it, and the run's outcome is what it reported.
            kill_group(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
    else:
        # Whatever the actor left behind in its group goes with it.
        kill_group(child.pid, signal.SIGKILL)
        code = os.waitstatus_to_exitcode(status)
        cpu_s, maxrss_bytes = usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
    reader.join(timeout=5)
    if not out_of_memory and limit.exceeded(meter.memory_current):  # the kernel killed it meanwhile
        out_of_memory = True
        log.line(_oom_line(limit))
    # What is buffered of the log is written with the run's end (worker/finalize.py), or by its
    # timer before the next attempt.
    exit_code = code if code >= 0 else 128 - code
    meter.end_attempt(cpu_s=cpu_s, peak_bytes=limit.peak_bytes(), maxrss_bytes=maxrss_bytes)
    return RunOutcome(
        exit_code=exit_code,
        timed_out=timed_out,
        aborted=aborted,
        out_of_memory=out_of_memory,
        worker_stopped=worker_stopped,
        rebooted=rebooted,
        stats=meter.stats(),
    )


def _alone(pid: int, limit: MemoryLimit) -> bool:
    """Whether the actor's process is all that is left of its run: in its memory group, else in its
    process group (read from /proc)."""
    pids = limit.pids()
    return (pids if pids is not None else list(_group_members(pid))) == [pid]


def _ended(ends: socket.socket) -> tuple[int, float, int] | None:
    """A stayed process's report of its run's end (exit code, CPU seconds, peak resident bytes);
    None if it is exiting instead."""
    try:
        report = ends.recv(ENDED.size, socket.MSG_WAITALL)
    except OSError:
        return None
    if len(report) != ENDED.size:
        return None
    code, cpu_s, peak = ENDED.unpack(report)
    return int(code), float(cpu_s), int(peak)


def _sample(child: Child, limit: MemoryLimit, meter: Meter) -> bool:
    """Measure the actor once; True if it is over its memory limit."""
    current = limit.current_bytes()
    usage = tree_usage(child.pid, memory=current is None)
    meter.sample(usage.memory_bytes if current is None else current, usage.cpu_s - child.cpu_before_s)
    return limit.exceeded(meter.memory_current)


def _oom_line(limit: MemoryLimit) -> str:
    megabytes = limit.limit_bytes // (1024 * 1024)
    return (
        f"[greenroom] The Actor ran out of memory (limit {megabytes} MB; {limit.mechanism}) and was stopped."
    )
