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
from typing import IO

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


def supervise(
    child: Child,
    log: LogWriter,
    timeout_s: float | None,
    kill_grace_s: float,
    on_timing_out: Callable[[], None],
) -> RunOutcome:
    started = time.monotonic()
    reader = threading.Thread(target=pump, args=(child.output, log), daemon=True)
    reader.start()
    pidfd = os.pidfd_open(child.pid)
    timed_out = False
    try:
        if not _exited_within(pidfd, timeout_s):
            timed_out = True
            on_timing_out()
            kill_group(child.pid, signal.SIGTERM)
            if not _exited_within(pidfd, kill_grace_s):
                kill_group(child.pid, signal.SIGKILL)
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
    return RunOutcome(exit_code=exit_code, timed_out=timed_out, stats=stats)
