"""`greenroom dev`'s children (the worker pool, the API), kept alive: one that dies is started again
after a backoff, and dev says so on its output.

Each child leads a process group of its own: the pool's workers and proxy die with it when that
group is killed, and a Ctrl-C at the terminal reaches dev alone, which then stops its children in
order (the API first, which answers its held requests, then the pool, which gives running actors
their grace period).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# A child that lived this long before it died starts again after FIRST_BACKOFF_S; one that keeps
# dying sooner waits twice as long each time, up to MAX_BACKOFF_S.
HEALTHY_AFTER_S = 60.0


def _how(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Child:
    """One process dev keeps alive. `say` writes a line on dev's output."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], say: Callable[[str], None]):
        self.name = name
        self._args = args
        self._env = env
        self._say = say
        self.proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._backoff_s = FIRST_BACKOFF_S
        self._restart_at: float | None = None
        self.restarts = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(self._args, env=self._env, process_group=0)
        self._started_at = time.monotonic()
        return self.proc

    def keep_alive(self) -> bool:
        """Start the child again when it died and its backoff has passed. True when it was."""
        now = time.monotonic()
        if self._restart_at is None:
            if self.proc is None or self.proc.poll() is None:
                return False
            if now - self._started_at >= HEALTHY_AFTER_S:
                self._backoff_s = FIRST_BACKOFF_S
            self._restart_at = now + self._backoff_s
            how = _how(self.proc.returncode)
            self._say(
                f"greenroom dev: the {self.name} (pid {self.proc.pid}) stopped ({how}); "
                f"starting it again in {self._backoff_s:g} s"
            )
            self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
            return False
        if now < self._restart_at:
            return False
        self._restart_at = None
        proc = self.start()
        self.restarts += 1
        self._say(f"greenroom dev: the {self.name} is started again (pid {proc.pid})")
        return True

    def stop(self, timeout_s: float) -> None:
        """SIGTERM, then SIGKILL to its whole group if it is still there after timeout_s."""
        self._restart_at = None
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
