"""The run's memory limit: a hard cap on the actor and everything it starts.

`GREENROOM_MEMORY_LIMIT` chooses the mechanism (`auto` tries them in this order):

- **cgroup v2**: a child group of the worker's own cgroup with `memory.max`, `memory.swap.max = 0`
  and `memory.oom.group = 1` (an OOM kill takes the whole group). `memory.current`, `memory.peak`
  and `memory.events` (`oom_kill`) give the stats and tell an OOM kill. Needs the memory controller
  enabled (or enableable) in the worker's cgroup's `cgroup.subtree_control`.
- **cgroup v1**: the same under the memory controller's hierarchy: `memory.limit_in_bytes` (and
  `memory.memsw.limit_in_bytes`), `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, and the
  `oom_kill` counter of `memory.oom_control` (`memory.failcnt` on kernels older than 4.13).
- **poll**: no kernel enforcement. The supervisor sums the proportional set size (Pss) of the actor's
  process tree every POLL_INTERVAL_S and kills the tree once it is over the limit; an allocation
  faster than that can overshoot between two samples.

RLIMIT_AS is not offered: it caps address space, not memory, and V8 and CPython reserve far more
address space than they touch, so ordinary actors would fail to start under 128 MB.

The child joins its group in the child itself, before it execs (or, for a forked callable, before
any actor code), so nothing it allocates escapes the limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from enum import StrEnum
from pathlib import Path

from server.pids import alive

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.2
SAMPLE_INTERVAL_S = 1.0
_RELEASE_TIMEOUT_S = 2.0


class MemoryLimitMode(StrEnum):
    AUTO = "auto"
    CGROUP = "cgroup"
    POLL = "poll"
    OFF = "off"


class MemoryLimitUnavailable(Exception):
    """Raised when the chosen mechanism cannot limit memory on this host (the reason is the message)."""


class MemoryLimit:
    """No enforcement (`off`): the supervisor only measures the actor's process tree."""

    mechanism = "off"
    sample_interval_s = SAMPLE_INTERVAL_S

    def __init__(self) -> None:
        self.limit_bytes = 0  # none until apply()

    def apply(self, limit_bytes: int) -> None:
        """Set the cap, before the actor's code runs (a standby waits inside the group until then)."""
        self.limit_bytes = limit_bytes

    @property
    def procs(self) -> list[bytes]:
        """The cgroup.procs files the actor's process writes its pid to, to enter the limit."""
        return []

    def current_bytes(self) -> int | None:
        """Memory in use now, or None: the supervisor then measures the process tree itself."""
        return None

    def pids(self) -> list[int] | None:
        """The processes in the group now, or None without a group."""
        return None

    def reset_peak(self) -> None:
        """Start peak_bytes() over, for the next run of a process that stayed in the group."""

    def peak_bytes(self) -> int | None:
        return None

    def exceeded(self, current_bytes: int) -> bool:
        """True once the actor has gone over its limit (its group is then to be killed)."""
        return False

    def close(self) -> None:
        """Kill whatever is left in the group and remove it."""


class PollLimit(MemoryLimit):
    mechanism = "poll"
    sample_interval_s = POLL_INTERVAL_S

    def exceeded(self, current_bytes: int) -> bool:
        return current_bytes > self.limit_bytes


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_counters(path: Path) -> dict[str, int]:
    """`key value` lines (memory.events, memory.oom_control)."""
    counters: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                counters[key] = int(value)
    return counters


class _CgroupLimit(MemoryLimit):
    """A cgroup made for one attempt of one run; subclasses name the files of their version."""

    _current_file = ""
    _peak_file = ""

    _unlimited = ""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory
        self._procs = os.fsencode(directory / "cgroup.procs")
        if directory.exists():  # left by a worker that died
            release_group(directory)
        try:
            directory.mkdir()
            self._configure(self._unlimited)  # proves the group's files writable while `auto` can fall back
        except OSError as exc:
            release_group(directory)
            raise MemoryLimitUnavailable(f"cannot set up {directory}: {exc}") from exc

    def apply(self, limit_bytes: int) -> None:
        super().apply(limit_bytes)
        self._configure(str(limit_bytes))

    def _configure(self, limit: str) -> None:
        raise NotImplementedError

    @property
    def procs(self) -> list[bytes]:
        return [self._procs]

    def current_bytes(self) -> int | None:
        return _read_int(self.directory / self._current_file)

    def pids(self) -> list[int] | None:
        return _pids(self.directory)

    def peak_bytes(self) -> int | None:
        return _read_int(self.directory / self._peak_file) if self._peak_file else None

    def close(self) -> None:
        release_group(self.directory)


def release_group(directory: Path) -> None:
    """Kill what is left in a group, then remove it. Processes that left the actor's process group
    (setsid, a double fork) are still in its cgroup."""
    deadline = time.monotonic() + _RELEASE_TIMEOUT_S
    while (pids := _pids(directory)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the cgroup %s: %s", directory, exc)


def _pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


class CgroupV2Limit(_CgroupLimit):
    mechanism = "cgroup-v2"
    _current_file = "memory.current"
    _peak_file = "memory.peak"  # Linux 5.19+; without it, the sampled peak is used. Never reset
    # here (reset_peak): a process that stayed reports its group's peak since it was made.

    _unlimited = "max"

    def _configure(self, limit: str) -> None:
        (self.directory / "memory.max").write_text(limit)
        for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            with contextlib.suppress(OSError):  # no swap accounting / an older kernel
                (self.directory / name).write_text(value)

    def exceeded(self, current_bytes: int) -> bool:
        events = _read_counters(self.directory / "memory.events")
        return events.get("oom_kill", 0) > 0 or events.get("oom_group_kill", 0) > 0


class CgroupV1Limit(_CgroupLimit):
    mechanism = "cgroup-v1"
    _current_file = "memory.usage_in_bytes"
    _peak_file = "memory.max_usage_in_bytes"

    _unlimited = "-1"

    def reset_peak(self) -> None:
        with contextlib.suppress(OSError):
            (self.directory / self._peak_file).write_text("0")

    def _configure(self, limit: str) -> None:
        (self.directory / "memory.limit_in_bytes").write_text(limit)
        # Memory + swap gets the same cap, so swapping out is no way around it (absent without
        # swap accounting; never below memory.limit_in_bytes, hence second).
        with contextlib.suppress(OSError):
            (self.directory / "memory.memsw.limit_in_bytes").write_text(limit)

    def exceeded(self, current_bytes: int) -> bool:
        control = _read_counters(self.directory / "memory.oom_control")
        if "oom_kill" in control:
            return control["oom_kill"] > 0
        return (_read_int(self.directory / "memory.failcnt") or 0) > 0  # before Linux 4.13


# By (pid, version, controller): the directory, or why there is none.
_own_groups: dict[tuple[int, int, str], Path | str] = {}


def own_cgroup(version: int, controller: str = "memory") -> Path:
    """The directory of this process's cgroup (resolved): the controller's (v1) or the unified one
    (v2). Found once per process: a worker's group stays where it is, and every standby asked for it
    up to four times, reading /proc/self/cgroup and mountinfo each time (about 0.5 ms of a standby's
    CPU: bench/fork_cost.py)."""
    key = (os.getpid(), version, controller)
    found = _own_groups.get(key)
    if found is None:
        try:
            found = _find_own_cgroup(version, controller).resolve()
        except MemoryLimitUnavailable as exc:
            found = str(exc)
        _own_groups[key] = found
    if isinstance(found, str):
        raise MemoryLimitUnavailable(found)
    return found


def _find_own_cgroup(version: int, controller: str) -> Path:
    path = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, cgroup_path = line.split(":", 2)
        if (version == 2 and hierarchy == "0" and controllers == "") or (
            version == 1 and controller in controllers.split(",")
        ):
            path = cgroup_path
    if path is None:
        raise MemoryLimitUnavailable(f"this process is in no cgroup v{version} {controller} hierarchy")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        parts, extra = fields.split(), tail.split()
        fstype, options = extra[0], extra[2].split(",") if len(extra) > 2 else []
        if (version == 2 and fstype == "cgroup2") or (
            version == 1 and fstype == "cgroup" and controller in options
        ):
            root, mount_point = parts[3], parts[4]
            relative = os.path.relpath(path, root)
            if relative.startswith(".."):  # a cgroup namespace hides our group from this mount
                continue
            return Path(mount_point) / relative
    raise MemoryLimitUnavailable(f"no cgroup v{version} {controller} mount shows this process's group")


def _v2_parent() -> Path:
    parent = own_cgroup(2)
    if "memory" not in (parent / "cgroup.controllers").read_text().split():
        raise MemoryLimitUnavailable(f"the memory controller is not available in {parent}")
    subtree = parent / "cgroup.subtree_control"
    if "memory" not in subtree.read_text().split():
        try:
            subtree.write_text("+memory")
        except OSError as exc:  # EBUSY: the group holds processes itself (not delegated to us)
            raise MemoryLimitUnavailable(f"cannot enable the memory controller in {subtree}: {exc}") from exc
    return parent


def _cgroup_limit(name: str) -> MemoryLimit:
    reasons = []
    for version, make in ((2, CgroupV2Limit), (1, CgroupV1Limit)):
        try:
            parent = _v2_parent() if version == 2 else own_cgroup(1)
            return make(parent / name)
        except (MemoryLimitUnavailable, OSError) as exc:
            reasons.append(f"v{version}: {exc}")
    raise MemoryLimitUnavailable("no writable memory cgroup (" + "; ".join(reasons) + ")")


_announced: set[str] = set()


def open_memory_limit(mode: str, limit_mbytes: int | None, name: str) -> MemoryLimit:
    """The limit for one attempt of a run (close() it after the run), as the group `name` where a
    cgroup enforces it; with limit_mbytes None, apply() sets it later. Raises MemoryLimitUnavailable
    when mode is `cgroup` and this host has no writable memory cgroup."""
    chosen = MemoryLimitMode(mode)
    limit: MemoryLimit
    if chosen is MemoryLimitMode.OFF:
        limit = MemoryLimit()
    elif chosen is MemoryLimitMode.POLL:
        limit = PollLimit()
    else:
        try:
            limit = _cgroup_limit(name)
        except MemoryLimitUnavailable as exc:
            if chosen is MemoryLimitMode.CGROUP:
                raise
            if "poll" not in _announced:
                log.warning("memory limits fall back to polling: %s", exc)
            limit = PollLimit()
    if limit_mbytes is not None:
        limit.apply(limit_mbytes * 1024 * 1024)
    if limit.mechanism not in _announced:
        _announced.add(limit.mechanism)
        log.info("memory limits are enforced by %s", limit.mechanism)
    return limit


def group_parents(limit: MemoryLimit) -> list[Path]:
    """Where `limit` makes its groups (none without a cgroup)."""
    return [limit.directory.parent] if isinstance(limit, _CgroupLimit) else []


def remove_orphan_groups(parent: Path) -> None:
    """Remove the groups in `parent` that workers which died left behind (`greenroom-<pid>-<n>`),
    killing what escaped into them; and the empty `greenroom-run-<runId>` groups of older versions."""
    for directory in parent.glob("greenroom-*"):
        owner = directory.name.split("-")[1]
        if not owner.isdigit():
            with contextlib.suppress(OSError):  # EBUSY: an older worker's run is in it
                directory.rmdir()
        elif not alive(int(owner)):
            release_group(directory)
