"""A sandbox made before its run, and its run's build shown to it afterwards.

Making a sandbox (bwrap's namespaces and binds, then setpriv) was about 5 ms of a process actor's
start (bench/jail.py). A program's standby now makes it while the worker waits for its next job, with
a shell inside, as the sandbox's uid, waiting for its order on a pipe (WAITER). What it cannot have
yet is its build directory, which only the run names. So the sandbox sees, at GREENROOM_DATA_DIR's
builds directory, a view: an empty tmpfs of its slot's, read-only, which bwrap leaves a slave of the
worker's mount of it. When the run comes, the worker clones a mount of the run's build directory,
makes the clone read-only, and moves it into the view; the move reaches the sandbox at the build's
own path (a virtualenv's scripts name their absolute paths). Nothing else is ever shown in that view,
and the sandbox is used for one run only.

Linux 5.12 or newer (open_tree, move_mount, mount_setattr): elsewhere, standbys make the sandbox on
the run's path, as before (Sandbox.premade, tried once by the probe).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from worker.sandbox.identity import try_identity

_libc = ctypes.CDLL(None, use_errno=True)

# The generic syscall numbers (x86_64 and arm64 alike).
_OPEN_TREE, _MOVE_MOUNT, _MOUNT_SETATTR = 428, 429, 442
_OPEN_TREE_CLONE = 1
_OPEN_TREE_CLOEXEC = os.O_CLOEXEC
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_SHARED = 0x2, 0x4, 0x8, 1 << 20
_MNT_DETACH = 2


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _syscall(number: int, *args: object) -> int:
    return int(_libc.syscall(ctypes.c_long(number), *args))


def _mount(source: bytes | None, target: Path, fstype: bytes | None, flags: int, data: bytes | None) -> None:
    _check(_libc.mount(source, bytes(target), fstype, ctypes.c_ulong(flags), data), f"mount {target}")


def detach(path: Path) -> None:
    """Unmount `path` and everything under it (lazily: nothing there is in use once its sandbox is
    gone). Not mounted: nothing to do."""
    if _libc.umount2(bytes(path), _MNT_DETACH) < 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        code = ctypes.get_errno()
        raise OSError(code, f"umount {path}: {os.strerror(code)}")


class BuildView:
    """`path` (on the worker's side): an empty tmpfs, mounted shared, that a sandbox binds at
    `builds_dir`; show() puts one build directory in it, read-only."""

    def __init__(self, path: Path, builds_dir: Path) -> None:
        self.path = path
        self.builds_dir = builds_dir
        detach(path)  # left by a worker that died holding this uid
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            _mount(
                b"greenroom-view", path, b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, b"mode=0755,size=64k"
            )
            _mount(None, path, None, _MS_SHARED, None)
        except BaseException:
            self.close()
            raise

    def show(self, build_root: Path) -> None:
        """The build directory, read-only, at its own path in the sandbox that binds this view."""
        target = self.path / build_root.relative_to(self.builds_dir)
        target.mkdir(mode=0o755, parents=True)
        tree = _check(
            _syscall(_OPEN_TREE, _AT_FDCWD, bytes(build_root), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC),
            f"open_tree {build_root}",
        )
        try:
            attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV, 0, 0, 0)
            _check(
                _syscall(_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr)),
                f"mount_setattr {build_root}",
            )
            _check(
                _syscall(_MOVE_MOUNT, tree, b"", _AT_FDCWD, bytes(target), _MOVE_MOUNT_F_EMPTY_PATH),
                f"move_mount {build_root}",
            )
        finally:
            os.close(tree)

    def close(self) -> None:
        detach(self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.rmdir()


def sweep(scratch: Path, lock_dir: Path) -> int:
    """Take down the views of `scratch` that no worker holds (its uid's lock is free): a worker that
    died with a standby ready left its view mounted, for the host's mounts outlive processes. How
    many were left."""
    left = 0
    for path in scratch.glob("*.view"):
        uid = path.name.removesuffix(".view")
        identity = try_identity(int(uid), lock_dir) if uid.isdigit() else None
        if identity is None:
            continue
        try:
            detach(path)
            with contextlib.suppress(OSError):
                path.rmdir()
            left += 1
        finally:
            identity.close()
    return left


# The premade sandbox's program: it runs the script the worker writes on its stdin (order_script),
# once the worker closes the pipe. `.` reads it in this shell: no process more than the actor's.
WAITER = ("/bin/sh", "-c", ". /dev/stdin")


def order_script(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> bytes:
    """What the waiter runs: the program in `cwd` with exactly `env`, stdin /dev/null, as the
    standby's exec would (PATH looked up in `env`).

    The waiter starts with an empty environment, so the shell can export `env` itself and exec the
    program: env(1)'s exec was 0.5 ms of the actor's start (bench/jail.py). Only where this host's
    /bin/sh exports nothing of its own but PWD and OLDPWD, which the script unsets
    (shell_exports_exactly), and only for names the shell can export and gives no meaning to; else
    env -i does it."""
    exports = all(_exportable(name) for name in env) and shell_exports_exactly()
    return waiter_script(argv, cwd, env, exports=exports)


def waiter_script(argv: Sequence[str], cwd: str, env: Mapping[str, str], *, exports: bool) -> bytes:
    """order_script's two forms: `exports`, the shell's own; else env -i's."""
    command = " ".join(shlex.quote(arg) for arg in argv)
    assignments = " ".join(shlex.quote(f"{name}={value}") for name, value in env.items())
    lines = [f"cd -- {shlex.quote(cwd)} || exit 127"]
    if exports:
        lines.append("unset OLDPWD PWD")
        if env:
            lines.append(f"export {assignments}")
        lines.append(f"exec 0</dev/null {command}")
    else:
        lines.append(f"exec 0</dev/null /usr/bin/env -i -- {assignments} {command}")
    return "".join(f"{line}\n" for line in lines).encode()


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# What a POSIX shell reads or sets itself: exported by the script, it could change how the shell runs
# the rest of it, or fail the export.
_SHELLS_OWN = frozenset(
    {"ENV", "IFS", "LINENO", "OLDPWD", "OPTARG", "OPTIND", "PPID", "PS1", "PS2", "PS4", "PWD"}
)


def _exportable(name: str) -> bool:
    return _NAME.match(name) is not None and name not in _SHELLS_OWN


@functools.cache
def shell_exports_exactly() -> bool:
    """Whether the waiter, given an environment to export, execs its program with exactly that one
    (tried once per process, by the sandbox's probe; dash does, bash adds SHLVL)."""
    script = waiter_script(["/usr/bin/env", "-0"], "/", {"GREENROOM_PROBE": "a b"}, exports=True)
    try:
        done = subprocess.run(list(WAITER), input=script, capture_output=True, env={}, cwd="/", timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout == b"GREENROOM_PROBE=a b\0"


def supported(scratch: Path) -> bool:
    """Whether this kernel and this worker can make a view and show a directory in it (tried in
    `scratch`)."""
    source = scratch / f"view-probe-{os.getpid()}-source"
    try:
        source.mkdir(parents=True, exist_ok=True)
        view = BuildView(scratch / f"view-probe-{os.getpid()}", scratch)
        try:
            view.show(source)
        finally:
            view.close()
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            source.rmdir()
