"""Sandbox identities: a uid (its gid the same number) of GREENROOM_SANDBOX_UIDS that no other
sandbox on this machine holds, and the scratch space that goes with it.

A worker holds its identity's lock (flock on a file in GREENROOM_SANDBOX_LOCK_DIR, one directory for
the whole machine, so every worker and every Greenroom on it share the range) from the moment it
makes a standby until the run has ended and its processes are gone. The kernel drops the lock when
the worker dies; its sandbox dies with it (bwrap --die-with-parent, and a pid namespace ends with its
first process).
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
from pathlib import Path


class SandboxUnavailable(Exception):
    """Raised when actors cannot be sandboxed here; the message says why and what to do."""


class Identity:
    """One uid, held until close()."""

    def __init__(self, uid: int, lock_fd: int):
        self.uid = uid
        self._lock_fd = lock_fd

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # the flock goes with the last descriptor of the file
            self._lock_fd = -1


def take_identity(uids: range, lock_dir: Path) -> Identity:
    """A uid of `uids` that no one else on this machine holds. Raises SandboxUnavailable if all are."""
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    start = random.randrange(len(uids))  # concurrent workers rarely try the same uid first
    for i in range(len(uids)):
        identity = try_identity(uids[(start + i) % len(uids)], lock_dir)
        if identity is not None:
            return identity
    raise SandboxUnavailable(
        f"all {len(uids)} sandbox uids ({uids[0]}-{uids[-1]}) are in use on this machine:"
        " widen GREENROOM_SANDBOX_UIDS"
    )


class Workspace:
    """A fresh home and /tmp for one sandbox, owned by its uid, on disk under `root`; gone on close()."""

    def __init__(self, root: Path, uid: int):
        self.root = root
        self.home = root / "home"
        self.tmp = root / "tmp"
        remove_tree(root)  # left by a worker that died
        root.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        root.mkdir(mode=0o700)
        for directory in (self.home, self.tmp):
            directory.mkdir(mode=0o700)
            os.chown(directory, uid, uid)

    def close(self) -> None:
        remove_tree(self.root)


def remove_tree(path: Path) -> None:
    """rm -rf as root, whom no mode the sandbox set (a read-only directory) stops."""
    shutil.rmtree(path, ignore_errors=True)


def try_identity(uid: int, lock_dir: Path) -> Identity | None:
    """`uid`, if no one else on this machine holds it."""
    fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Identity(uid, fd)


def chown_tree(path: Path, uid: int) -> None:
    """Everything under `path` to uid:uid, walked by directory descriptors and never through a
    symlink: a sandbox that swaps a directory for a link to /etc meanwhile changes nothing outside."""
    os.chown(path, uid, uid, follow_symlinks=False)
    for _, dirs, files, parent in os.fwalk(path, follow_symlinks=False):
        for name in dirs + files:
            os.chown(name, uid, uid, dir_fd=parent, follow_symlinks=False)
