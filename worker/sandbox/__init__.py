"""The actor sandbox: what a SOURCE_FILES actor, and every build step that runs code, runs inside.

- identity.py: a uid of its own (no other sandbox on the machine has it meanwhile), and a fresh
  home and /tmp for it;
- jail.py: bubblewrap's namespaces (mount, pid, IPC, UTS, cgroup) and binds, then setpriv: that uid,
  no capabilities, no_new_privs;
- memory.py, tasks.py: the memory, process-count and CPU limits, as cgroups it cannot leave (it sees
  no /sys, its cgroup namespace starts at its own group, and the files belong to root);
- network.py: the TCP addresses of Redis and the database, closed to the sandbox uids (nftables).

PYTHON_CALLABLE actors are trusted code installed with the worker: they run in the worker's forked
child, as the worker's user, inside the memory, pids and CPU groups but outside the sandbox.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from server.settings import Settings
from worker.sandbox.identity import Identity, SandboxUnavailable, Workspace, take_identity
from worker.sandbox.jail import HOME, Jail, identity_files, toolchains
from worker.sandbox.memory import MemoryLimitUnavailable, open_memory_limit
from worker.sandbox.views import WAITER, BuildView, shell_exports_exactly
from worker.sandbox.views import supported as views_supported
from worker.sandbox.views import sweep as sweep_views

log = logging.getLogger(__name__)

__all__ = ["Sandbox", "SandboxUnavailable", "Slot", "announce", "probe", "sandbox_for"]


class Slot:
    """One sandbox's identity and scratch space, held by one standby or one build at a time."""

    def __init__(self, box: Sandbox):
        self._box = box
        self._identity: Identity = take_identity(box.uids, box.lock_dir)
        self.uid = self._identity.uid
        try:
            self.workspace = Workspace(box.scratch_dir / str(self.uid), self.uid)
            identity_files(self.workspace.root, self.uid)
        except BaseException:
            self._identity.close()
            raise
        self.view: BuildView | None = None

    def wrap(
        self,
        argv: Sequence[str],
        cwd: str,
        *,
        read_only: Iterable[str] = (),
        writable: Iterable[str] = (),
        home: Path | None = None,
        views: Iterable[tuple[str, str]] = (),
    ) -> list[str]:
        """`argv` as this slot's uid in its sandbox (`home`: another directory as HOME, such as a build
        owner's)."""
        return self._box.jail.command(
            argv,
            uid=self.uid,
            cwd=cwd,
            home=home or self.workspace.home,
            tmp=self.workspace.tmp,
            users=self.workspace.root,
            read_only=read_only,
            writable=writable,
            views=views,
        )

    def premade_command(self) -> list[str]:
        """The command of a sandbox made before its run (worker/sandbox/views.py): the waiter, in
        /, with this slot's view of the builds directory, empty until show() puts the run's build
        in it."""
        box = self._box
        self.view = BuildView(box.scratch_dir / f"{self.uid}.view", box.builds_dir)
        return self.wrap(list(WAITER), "/", views=[(str(self.view.path), str(box.builds_dir))])

    def show(self, build_root: Path) -> None:
        """The run's build directory, read-only, in the premade sandbox."""
        if self.view is None:
            raise RuntimeError("this slot has no premade sandbox")
        self.view.show(build_root)

    @staticmethod
    def env(env: dict[str, str]) -> dict[str, str]:
        """The program's environment as it is inside (HOME, TMPDIR, USER)."""
        return env | {"HOME": HOME, "TMPDIR": "/tmp", "USER": "actor", "LOGNAME": "actor"}

    def close(self) -> None:
        try:
            if self.view is not None:  # first: nothing of a build is under it when it goes
                self.view.close()
            self.workspace.close()
        finally:
            self._identity.close()


@dataclass(frozen=True)
class Sandbox:
    jail: Jail
    uids: range
    lock_dir: Path
    scratch_dir: Path
    homes_dir: Path
    builds_dir: Path
    # Standbys make the sandbox before the run (worker/sandbox/views.py): this kernel can show a
    # build in one afterwards.
    premade: bool = False

    def slot(self) -> Slot:
        return Slot(self)

    def owner_home(self, owner: str) -> Path:
        """Build steps' HOME for one owner's builds: their pip and npm caches, never shared with
        another user's builds."""
        home = self.homes_dir / owner
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return home


def _make(settings: Settings) -> Sandbox:
    """The sandbox of `settings`, once it is proven to start a program here; else SandboxUnavailable."""
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the worker is not root: it needs root to switch actors to the sandbox uids and bind their files"
        )
    missing = [name for name in ("bwrap", "setpriv") if shutil.which(name) is None]
    if missing:
        raise SandboxUnavailable(
            f"{' and '.join(missing)} not found on PATH (Debian: apt-get install bubblewrap util-linux)"
        )
    bwrap, setpriv = (str(shutil.which(name)) for name in ("bwrap", "setpriv"))
    box = Sandbox(
        jail=Jail(bwrap, setpriv, toolchains(settings.sandbox_read_only_paths)),
        uids=settings.sandbox_uids,
        lock_dir=settings.sandbox_lock_dir,
        scratch_dir=settings.sandboxes_dir / "uids",
        homes_dir=settings.sandboxes_dir / "homes",
        builds_dir=settings.builds_dir,
    )
    if settings.memory_limit in ("auto", "cgroup"):
        # The sandbox's limits are cgroups it cannot leave; `poll` and `off` say, explicitly, that
        # this host does without.
        try:
            open_memory_limit("cgroup", None, f"greenroom-{os.getpid()}-probe").close()
        except MemoryLimitUnavailable as exc:
            raise SandboxUnavailable(
                f"{exc}: the sandbox's memory and process limits need one (GREENROOM_MEMORY_LIMIT=poll"
                " runs without, sampling memory)"
            ) from exc
    try:
        identity = take_identity(box.uids, box.lock_dir)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot lock sandbox uids in {box.lock_dir}: {exc}") from exc
    try:
        probe = box.jail.command(["/bin/true"], uid=identity.uid, cwd="/", home=None, tmp=None)
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bwrap could not be started: {exc}") from exc
    finally:
        identity.close()
    if done.returncode != 0:
        raise SandboxUnavailable(f"bwrap failed: {(done.stderr or done.stdout).strip()[:500]}")
    if not views_supported(box.scratch_dir):
        log.info("sandboxes are made on each run's path: this kernel cannot show a build in one made before")
        return box
    if left := sweep_views(box.scratch_dir, box.lock_dir):
        log.info("took down %d sandbox views left by workers that died", left)
    shell_exports_exactly()  # once per process, here rather than on a run's path (order_script)
    return replace(box, premade=True)


_cache: dict[tuple[int, Settings], Sandbox | SandboxUnavailable] = {}


def probe(settings: Settings) -> Sandbox | SandboxUnavailable:
    """The sandbox, or why there is none, tried once per process and settings."""
    key = (os.getpid(), settings)
    if key not in _cache:
        try:
            _cache[key] = _make(settings)
        except SandboxUnavailable as exc:
            _cache[key] = exc
    return _cache[key]


def sandbox_for(settings: Settings) -> Sandbox | None:
    """The sandbox SOURCE_FILES actors and build steps run in; None when they run unsandboxed
    (GREENROOM_SANDBOX=off, or auto on a host that cannot make one). Raises SandboxUnavailable
    under `on` when this host cannot make one."""
    if settings.sandbox == "off":
        return None
    found = probe(settings)
    if isinstance(found, Sandbox):
        return found
    if settings.sandbox == "auto":
        return None
    raise SandboxUnavailable(
        f"The sandbox is not available on this worker ({found}); set GREENROOM_SANDBOX=off to run"
        " actors unsandboxed, as the worker's user"
    )


def announce(settings: Settings) -> None:
    """Say at start what the sandbox will be (a worker pool, `greenroom dev`)."""
    if settings.sandbox == "off":
        log.warning("GREENROOM_SANDBOX=off: actors and build steps run unsandboxed, as the worker's user")
        return
    found = probe(settings)
    if isinstance(found, Sandbox):
        log.info("actors run sandboxed (bubblewrap; uids %s-%s)", found.uids[0], found.uids[-1])
    elif settings.sandbox == "auto":
        log.warning(
            "\n%s\nNO SANDBOX: %s.\nActors run as the worker's user and can read everything it can"
            " (its data directory and tokens included). Fine for one person on their own machine;"
            " never for untrusted actors.\n%s",
            "!" * 78,
            found,
            "!" * 78,
        )
    else:
        log.error(
            "the sandbox is not available (%s): SOURCE_FILES actors and builds will fail on this worker"
            " until it is, or until GREENROOM_SANDBOX=off",
            found,
        )
