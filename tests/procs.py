"""Process checks for tests that must prove processes are gone, and what limits this host's runs."""

from __future__ import annotations

import uuid
from pathlib import Path

from worker.sandbox.memory import MemoryLimitUnavailable, open_memory_limit


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a killed child nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def running_with(marker: str) -> list[int]:
    """The live processes (of any pid namespace: the host sees them all) with `marker` as an
    argument on their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def memory_mechanism() -> str:
    """What GREENROOM_MEMORY_LIMIT=auto picks on this host ("none" without a writable memory cgroup;
    a suite's workers are this process's children, in its cgroup)."""
    try:
        limit = open_memory_limit("auto", 128, f"probe-{uuid.uuid4().hex[:8]}")
    except MemoryLimitUnavailable:
        return "none"
    limit.close()
    return limit.mechanism
