"""Process checks for tests that must prove processes are gone."""

from __future__ import annotations

from pathlib import Path

from worker.forked import NAMES


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


def descendants(pid: int) -> list[int]:
    """Every live process under `pid` (children, theirs, ...)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += [child for child in children if alive(child)]
            todo += children
    return found


def pool_children(pool_pid: int, kind: str) -> list[int]:
    """A worker pool's live children of one kind: `worker`, `webhooks` or `proxy` (worker/forked.py
    names them; they are the children of the pool's forkserver)."""
    name = NAMES[kind]  # type: ignore[index]
    # Not a worker's own children before their exec (its standbys): they have its name too.
    return [pid for pid in descendants(pool_pid) if _comm(pid) == name and _comm(_parent(pid)) != name]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
