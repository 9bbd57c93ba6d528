"""The bubblewrap command line around an actor's program (or a build step).

The worker runs as root; bwrap, started by root without a user namespace, makes the mount, pid, IPC,
UTS and cgroup namespaces and binds only what the program needs; then setpriv, inside, becomes the
sandbox's uid and gid, drops every capability (bounding set included) and sets no_new_privs before it
execs the program. (bwrap run as that uid would need a user namespace, which maps the sandbox's uid
to the caller's; and could not bind toolchains under paths the uid cannot search, such as /root.)

What the program sees:

    /usr, /etc, /bin /lib ... (as the host has them), read-only, and the toolchains beside them
    (the worker's Python and its environment, node's prefix, GREENROOM_SANDBOX_READ_ONLY_PATHS),
    read-only: code, no configuration or data;
    its build directory, read-only (a build step: the directory it is making, writable);
    /home/actor (HOME) and /tmp: a fresh directory of its own on disk, writable;
    /etc/passwd and /etc/group naming its uid `actor`;
    /proc of its own pid namespace, a minimal /dev, a tmpfs /dev/shm;
    nothing else: no data directory, no other build, no Greenroom socket or configuration.

The network is the host's: what keeps actors from Redis and the database is that they are on unix
sockets the sandbox does not see (`greenroom dev`), passwords, and network policy (worker/sandbox/
network.py for loopback; README, Security).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HOME = "/home/actor"
_ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass(frozen=True)
class Jail:
    bwrap: str
    setpriv: str
    toolchains: tuple[str, ...]  # read-only, beyond /usr and /etc

    def command(
        self,
        argv: Sequence[str],
        *,
        uid: int,
        cwd: str,
        home: Path | None,
        tmp: Path | None,
        users: Path | None = None,
        read_only: Iterable[str] = (),
        writable: Iterable[str] = (),
        views: Iterable[tuple[str, str]] = (),
    ) -> list[str]:
        """`argv` run as `uid` in a sandbox (home and tmp None: tmpfs, for a probe); `users` holds
        the passwd and group files it sees (identity_files); `views`: (a directory, where it is
        seen), read-only, as a mount that later mounts under it reach (worker/sandbox/views.py)."""
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--die-with-parent", "--ro-bind", "/usr", "/usr"]
        for link in _ROOT_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        args += ["--ro-bind", "/etc", "/etc"]
        made = {"/", "/usr", "/etc"}

        def bind(option: str, path: str, target: str | None = None) -> None:
            # A mount point's parents, as bwrap would make them, copy the modes of the source's
            # (a 0700 data directory would shut the sandbox's uid out of its own build): 0755 here.
            target = target or path
            for parent in reversed(Path(target).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    args.extend(["--perms", "0755", "--dir", str(parent)])
            made.add(target)
            args.extend([option, path, target])

        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
        for scratch, target in ((home, HOME), (tmp, "/tmp")):
            if scratch is None:
                args += ["--perms", "1777", "--tmpfs", target]
                made.add(target)
            else:
                bind("--bind", str(scratch), target)
        # After /tmp: a Greenroom (its virtualenv) installed under /tmp would be hidden by the
        # sandbox's own /tmp mounted over it, and no process actor could start.
        for path in self.toolchains:
            bind("--ro-bind", path)
        if users is not None:
            for name in ("passwd", "group"):
                args += ["--ro-bind", str(users / name), f"/etc/{name}"]
        for path in read_only:
            bind("--ro-bind", path)
        for path in writable:
            bind("--bind", path)
        for path, target in views:
            bind("--ro-bind", path, target)
        args += ["--chdir", cwd, self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *argv]
        return args


def identity_files(directory: Path, uid: int) -> None:
    """The passwd and group files the sandbox sees (`actor` is `uid`; programs such as npm look
    their user up)."""
    (directory / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\nactor:x:{uid}:{uid}:actor:{HOME}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (directory / "group").write_text(f"root:x:0:\nactor:x:{uid}:\nnogroup:x:65534:\n")


def toolchains(extra: Iterable[str]) -> tuple[str, ...]:
    """Read-only paths beyond /usr and /etc: the worker's Python (the interpreter and its
    environment: an actor without a virtualenv of its own runs it, and build steps run its pip and
    venv), node's prefix, and `extra`."""
    candidates = [os.path.realpath(sys.base_prefix), sys.prefix]
    for program in ("node", "npm"):
        found = shutil.which(program)
        if found:
            candidates.append(str(Path(os.path.realpath(found)).parent.parent))
    candidates += [p for p in extra if p]
    chosen: list[str] = []
    for path in candidates:
        path = os.path.abspath(path)
        covered = ("/usr", "/etc", *chosen)
        if os.path.exists(path) and not any(path == c or path.startswith(c + "/") for c in covered):
            chosen.append(path)
    return tuple(chosen)
