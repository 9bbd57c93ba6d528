"""Supervise one actor process: capture its output, enforce the timeout, reap it, measure it.

The actor runs in its own session (process group), so a timeout kills everything it started.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from worker.logs import LogWriter, pump
from worker.runners.base import RunOutcome


@dataclass
class Child:
    """A started actor process: its pid (also its process group id) and its merged stdout/stderr."""

    pid: int
    output: IO[bytes]


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exited_within(pidfd: int, timeout_s: float | None) -> bool:
    ready, _, _ = select.select([pidfd], [], [], timeout_s)
    return bool(ready)


class AbortSignal(Protocol):
    """Readable (fileno) once the run should abort; graceful() says how."""

    def fileno(self) -> int: ...

    def graceful(self) -> bool: ...


def _stop(pidfd: int, pgid: int, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if the actor is still there after grace_s (0: SIGKILL at once)."""
    if grace_s > 0:
        kill_group(pgid, signal.SIGTERM)
        if _exited_within(pidfd, grace_s):
            return
    kill_group(pgid, signal.SIGKILL)


def supervise(
    child: Child,
    log: LogWriter,
    timeout_s: float | None,
    kill_grace_s: float,
    on_timing_out: Callable[[], None],
    abort: AbortSignal | None = None,
    abort_grace_s: float = 30.0,
) -> RunOutcome:
    started = time.monotonic()
    reader = threading.Thread(target=pump, args=(child.output, log), daemon=True)
    reader.start()
    pidfd = os.pidfd_open(child.pid)
    timed_out = aborted = False
    deadline = None if timeout_s is None else started + timeout_s
    watched = [pidfd] if abort is None else [pidfd, abort.fileno()]
    try:
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(watched, [], [], remaining)
            if pidfd in ready:
                break
            if ready:  # the abort signal
                aborted = True
                graceful = abort is not None and abort.graceful()
                log.line(f"[greenroom] Aborting the run{' gracefully' if graceful else ''}.")
                _stop(pidfd, child.pid, abort_grace_s if graceful else 0)
                break
            timed_out = True
            on_timing_out()
            _stop(pidfd, child.pid, kill_grace_s)
            break
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        os.close(pidfd)
    # Whatever the actor left behind in its group goes with it.
    kill_group(child.pid, signal.SIGKILL)
    reader.join(timeout=5)
    log.flush()
    duration_s = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    exit_code = code if code >= 0 else 128 - code
    cpu_s = usage.ru_utime + usage.ru_stime
    stats = {
        "durationMillis": int(duration_s * 1000),
        "runTimeSecs": round(duration_s, 3),
        "memMaxBytes": usage.ru_maxrss * 1024,
        "cpuAvgUsage": round(100 * cpu_s / duration_s, 2) if duration_s > 0 else 0,
        "computeUnits": 0,
    }
    return RunOutcome(exit_code=exit_code, timed_out=timed_out, aborted=aborted, stats=stats)
