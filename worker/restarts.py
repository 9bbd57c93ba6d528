"""restartOnError: a run whose actor fails is started again, as Apify does it.

At most MAX_RESTARTS in any RESTART_WINDOW_S (Apify's ACTOR_RESTART_ON_ERROR: 3 in 60 s). A restart
keeps the run id, its storages and its token; the status stays RUNNING in between and nothing is
published, so waiters (run-sync, waitForFinish) wake only at the run's true end. A failure is an exit
code other than 0 or running out of memory; a timeout, an abort or an actor that could not be
started at all is not restarted. The timeout covers the whole run, restarts (and reboots) included.
"""

from __future__ import annotations

import select
import time
from dataclasses import replace
from typing import Any

from server.run_options import MAX_RESTARTS
from worker.logs import LogWriter
from worker.runners.base import RunOutcome, RunSpec
from worker.supervisor import AbortSignal

RESTART_WINDOW_S = 60.0


def _pending(abort: AbortSignal) -> bool:
    ready, _, _ = select.select([abort.fileno()], [], [], 0)
    return bool(ready)


class Restarts:
    """The restart budget of one run, and its whole-run deadline."""

    def __init__(self, spec: RunSpec, stats: dict[str, Any]):
        self._spec = spec
        self._enabled = bool(spec.options.get("restartOnError"))
        self._times: list[float] = []
        self._attempts = 0
        self.count = int(stats.get("restartCount", 0))  # kept across resurrections
        self._deadline = None if spec.timeout_s is None else time.monotonic() + spec.timeout_s

    @property
    def spec(self) -> RunSpec:
        return self._spec

    def rebooted(self, spec: RunSpec) -> None:
        """The run was rebooted or metamorphed: its next attempts start `spec` (the deadline stays)."""
        self._spec = spec

    def attempt_spec(self) -> RunSpec:
        """The spec of the next attempt: what is left of the run's timeout (ACTOR_TIMEOUT_AT too)."""
        self._attempts += 1
        if self._deadline is None or self._attempts == 1:
            return self._spec
        left = max(0.001, self._deadline - time.monotonic())  # 0 would mean "no timeout"
        return replace(self._spec, options=self._spec.options | {"timeoutSecs": left})

    def should_restart(self, outcome: RunOutcome, started: bool, abort: AbortSignal) -> bool:
        # A stopping worker takes no new attempt: its run is handed back to the queue instead.
        if not self._enabled or not started or outcome.timed_out or outcome.aborted or outcome.worker_stopped:
            return False
        if outcome.exit_code == 0 and not outcome.out_of_memory:
            return False
        now = time.monotonic()
        recent = [t for t in self._times if now - t < RESTART_WINDOW_S]
        return len(recent) < MAX_RESTARTS and not _pending(abort)

    def restart(self, run_log: LogWriter, reason: str) -> None:
        """Count the restart and note it in the log."""
        self._times.append(time.monotonic())
        self.count += 1
        run_log.line(f"[greenroom] {reason}. Restarting the Actor (restartOnError, restart {self.count}).")
