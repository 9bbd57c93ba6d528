"""What a run used: memory and CPU sampled while it goes, summed over its attempts into Apify's RunStats.

Apify's names and units: bytes, CPU as a percentage of one core (above 100 on several cores), and
compute units = memory (GB) x duration (hours) of the memory the run was given.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class TreeUsage:
    memory_bytes: int
    cpu_s: float


def _tree(root: int) -> list[int]:
    """The pid and its descendants, by /proc/<pid>/task/<tid>/children (processes that were
    re-parented away from the tree are not seen; the cgroup, when there is one, still counts them)."""
    pids, index = [root], 0
    while index < len(pids):
        task_dir = Path(f"/proc/{pids[index]}/task")
        index += 1
        with contextlib.suppress(OSError):
            for tid in os.listdir(task_dir):
                with contextlib.suppress(OSError, ValueError):
                    pids.extend(int(c) for c in (task_dir / tid / "children").read_text().split())
    return pids


def _pss_bytes(pid: int) -> int:
    """Proportional set size: pages shared with the worker (a forked callable) count by their share."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_of(pid: int) -> float:
    """The CPU seconds a process and its waited-for children have used (0.0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: the fields 14-17 of proc(5), counted after the ")".
    return sum(int(value) for value in stat[11:15]) * _TICK_S


def tree_usage(root: int, *, memory: bool) -> TreeUsage:
    """CPU time (and, if `memory`, Pss) of a process and its descendants, read from /proc."""
    cpu_s = 0.0
    memory_bytes = 0
    for pid in _tree(root):
        cpu_s += cpu_of(pid)
        if memory:
            memory_bytes += _pss_bytes(pid)
    return TreeUsage(memory_bytes=memory_bytes, cpu_s=cpu_s)


@dataclass
class Meter:
    """Accumulates one run's usage across its attempts (restartOnError)."""

    memory_mbytes: int
    started: float = field(default_factory=time.monotonic)
    _cpu_s: float = 0.0  # of the attempts that ended
    _peak: int = 0
    _mem_sum: float = 0.0
    _samples: int = 0
    _cpu_max: float = 0.0
    _mem_current: int = 0
    _cpu_current: float = 0.0
    _attempt_peak: int = 0
    _last: tuple[float, float] | None = None  # (time, tree CPU seconds) of the previous sample
    _last_due: float = field(default_factory=time.monotonic)

    def start_attempt(self) -> None:
        self._last = None
        self._attempt_peak = 0

    def sample(self, memory_bytes: int, tree_cpu_s: float) -> None:
        now = time.monotonic()
        self._mem_current = memory_bytes
        self._attempt_peak = max(self._attempt_peak, memory_bytes)
        self._mem_sum += memory_bytes
        self._samples += 1
        if self._last is not None and now > self._last[0]:
            self._cpu_current = max(0.0, 100 * (tree_cpu_s - self._last[1]) / (now - self._last[0]))
            self._cpu_max = max(self._cpu_max, self._cpu_current)
        self._last = (now, tree_cpu_s)

    def due(self, interval_s: float) -> bool:
        """True at most once per interval_s (for writing live stats)."""
        now = time.monotonic()
        if now - self._last_due < interval_s:
            return False
        self._last_due = now
        return True

    @property
    def memory_current(self) -> int:
        return self._mem_current

    def end_attempt(self, cpu_s: float, peak_bytes: int | None, maxrss_bytes: int) -> None:
        """An attempt's total CPU (rusage) and its peak: the cgroup's when known, else the larger of
        the sampled one and the largest process's maximum RSS. Both of those only bound the peak from
        below: a sample can fall while memory still grows, and the maximum RSS misses a tree's sum."""
        self._last = None  # first: stats() meanwhile counts the attempt's CPU once, not twice
        self._cpu_s += cpu_s
        peak = peak_bytes or max(self._attempt_peak, maxrss_bytes)
        self._peak = max(self._peak, peak)
        self._mem_current = 0
        self._cpu_current = 0.0

    def stats(self) -> dict[str, Any]:
        duration_s = time.monotonic() - self.started
        # While an attempt goes, its tree's CPU time so far counts too (live stats). Read once: the
        # events websocket's thread calls stats() while the supervisor samples.
        last = self._last
        cpu_s = self._cpu_s + (last[1] if last is not None else 0.0)
        cpu_avg = 100 * cpu_s / duration_s if duration_s > 0 else 0.0
        peak = max(self._peak, self._attempt_peak)
        return {
            "durationMillis": int(duration_s * 1000),
            "runTimeSecs": round(duration_s, 3),
            "memAvgBytes": round(self._mem_sum / self._samples, 1) if self._samples else peak,
            "memMaxBytes": peak,
            "memCurrentBytes": self._mem_current,
            "cpuAvgUsage": round(cpu_avg, 3),
            "cpuMaxUsage": round(max(self._cpu_max, cpu_avg), 3),
            "cpuCurrentUsage": round(self._cpu_current, 3),
            "computeUnits": round(self.memory_mbytes / 1024 * duration_s / 3600, 6),
        }
