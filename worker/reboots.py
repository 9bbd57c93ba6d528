"""Hearing that a run was rebooted or metamorphed (server/services/reboots.py), and starting it again.

The run's generation (reboot_count + len(metamorphs), worker/run_spec.py) is read from SQL by the
AbortWatch (worker/abort.py) on every message of the run's control channel and after every
(re)subscription, and by the job after every attempt (an actor that exits on its own right after
asking for its reboot, before the message came, is started again too). A Redis message alone never
reboots anything: only a generation in SQL above the one the actor was started at.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading

from worker.logs import LogWriter
from worker.runners.base import RunSpec


class RebootSignal:
    """A readable fd (for select) while the run's generation in SQL is above the one running."""

    def __init__(self, generation: int):
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._lock = threading.Lock()
        self._started = self._latest = generation

    def fileno(self) -> int:
        return self._read_fd

    def seen(self, generation: int) -> None:
        """The generation SQL holds now (from any thread)."""
        with self._lock:
            if generation > self._latest:
                self._latest = generation
                os.write(self._write_fd, b"!")

    def take(self) -> bool:
        """True (once) if the actor should be started again: a generation above the one running."""
        with self._lock:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read_fd, 512):
                    pass
            due = self._latest > self._started
            self._started = self._latest
            return due

    def close(self) -> None:
        os.close(self._read_fd)
        os.close(self._write_fd)


def pending(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)


def announce(run_log: LogWriter, before: RunSpec, after: RunSpec) -> None:
    """The run log says why the actor starts again (a metamorph names its target)."""
    if after.input_key != before.input_key:
        run_log.line(
            f"[greenroom] The run was metamorphed into {after.username}/{after.actor_name} "
            f"(build {after.build_number}, input {after.input_key}); starting it."
        )
    else:
        run_log.line("[greenroom] The run was rebooted; starting the Actor again.")
