"""A run's process count and CPU share: `pids.max` (a fork bomb stops at it) and the CPU weight and
cap, in groups named like the memory group (worker/sandbox/memory.py).

On cgroup v2 they are files of the memory group itself (the parent must have, or be able to enable,
the `pids` and `cpu` controllers); on v1 each controller has a hierarchy of its own, so the group is
made once under each (`/sys/fs/cgroup/pids/...`, `/sys/fs/cgroup/cpu/...`). Where a controller is
missing or not writable, that limit is left out and said once in the worker's log.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from worker.sandbox.memory import CgroupV2Limit, MemoryLimit, own_cgroup, release_group

log = logging.getLogger(__name__)

_CFS_PERIOD_US = 100_000
_announced: set[str] = set()


@dataclass(frozen=True)
class TaskLimits:
    pids_max: int  # 0: no limit
    cpu_shares: int  # v1 cpu.shares; v2 cpu.weight is the same share scaled (1024 -> 100)
    cpu_cores: float  # 0: no cap


class TaskGroups:
    """The groups holding one attempt's pids and CPU limits; join() in the child, close() after."""

    def __init__(self, name: str, limits: TaskLimits, memory: MemoryLimit):
        self.directories: list[Path] = []
        self._owned: list[Path] = []  # made here (v1), so removed here; v2's is the memory group's
        if isinstance(memory, CgroupV2Limit):
            self._configure_v2(memory.directory, limits)
        else:
            for controller in ("pids", "cpu"):
                self._make_v1(controller, name, limits)
        self._procs = [os.fsencode(d / "cgroup.procs") for d in self.directories]

    def _configure_v2(self, directory: Path, limits: TaskLimits) -> None:
        subtree = directory.parent / "cgroup.subtree_control"
        for controller, files in (
            ("pids", {"pids.max": str(limits.pids_max or "max")}),
            ("cpu", {"cpu.weight": str(_weight(limits.cpu_shares)), "cpu.max": _cpu_max(limits.cpu_cores)}),
        ):
            try:
                if controller not in subtree.read_text().split():
                    subtree.write_text(f"+{controller}")
                for file, value in files.items():
                    (directory / file).write_text(value)
            except OSError as exc:
                _say_once(controller, f"cgroup v2 {controller} in {directory.parent}: {exc}")

    def _make_v1(self, controller: str, name: str, limits: TaskLimits) -> None:
        try:
            directory = own_cgroup(1, controller) / name
            if directory.exists():  # left by a worker that died
                release_group(directory)
            directory.mkdir()
        except Exception as exc:  # no such hierarchy, not writable
            _say_once(controller, f"cgroup v1 {controller}: {exc}")
            return
        self._owned.append(directory)
        try:
            if controller == "pids":
                (directory / "pids.max").write_text(str(limits.pids_max or "max"))
            else:
                (directory / "cpu.shares").write_text(str(max(2, limits.cpu_shares)))
                if limits.cpu_cores > 0:
                    (directory / "cpu.cfs_period_us").write_text(str(_CFS_PERIOD_US))
                    (directory / "cpu.cfs_quota_us").write_text(str(round(limits.cpu_cores * _CFS_PERIOD_US)))
        except OSError as exc:
            _say_once(controller, f"cgroup v1 {controller} in {directory}: {exc}")
            release_group(directory)
            self._owned.remove(directory)
            return
        self.directories.append(directory)

    @property
    def parents(self) -> list[Path]:
        return [d.parent for d in self._owned]

    @property
    def procs(self) -> list[bytes]:
        """The cgroup.procs files the actor's process writes its pid to, to enter the groups."""
        return self._procs

    def close(self) -> None:
        for directory in self._owned:
            release_group(directory)


def _weight(shares: int) -> int:
    return max(1, min(10_000, round(shares * 100 / 1024)))


def _cpu_max(cores: float) -> str:
    return f"{round(cores * _CFS_PERIOD_US)} {_CFS_PERIOD_US}" if cores > 0 else f"max {_CFS_PERIOD_US}"


def _say_once(controller: str, reason: str) -> None:
    if controller not in _announced:
        _announced.add(controller)
        log.warning("runs get no %s limit: %s", controller, reason)
