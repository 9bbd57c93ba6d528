"""Build steps: programs a build runs (pip, npm, a Dockerfile's RUN), one after the other under one
deadline, stopped on abort, their output into the build's log; in a sandbox, as a sandbox uid that
can write only the directory being made and the owner's build home (their caches).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from server.secrets import env_var_value
from worker.sandbox import Sandbox, Slot
from worker.sandbox.identity import chown_tree
from worker.supervisor import kill_group

# What a build step (pip, npm) gets from the worker's environment: locale, home (pip and npm read
# their config and cache from it), proxies and package index settings; no database URLs or tokens.
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
_PASS_PREFIXES = ("PIP_", "NPM_CONFIG_", "npm_config_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_PASS_PREFIXES_LOWER = ("http_proxy", "https_proxy", "no_proxy")


class LineLog(Protocol):
    """Where a build's output goes: a build's log, or the run's that needed the build."""

    def line(self, text: str) -> None: ...


class Discard:
    def line(self, text: str) -> None:
        pass


def _pump(output: IO[bytes], log: LineLog) -> None:
    for raw in iter(output.readline, b""):
        log.line(raw.decode("utf-8", "replace"))
    output.close()


class BuildFailed(Exception):
    """A step failed (the message says which); the build ends FAILED."""


class BuildTimedOut(BuildFailed):
    pass


class BuildAborted(BuildFailed):
    pass


def step_env(source: dict[str, Any], secrets_key: str = "") -> dict[str, str]:
    """The environment of pip and npm: a few of the worker's variables, and the version's env vars
    when it asks for them (applyEnvVarsToBuild, as on Apify; never Apify's system variables)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in _PASS_THROUGH or k.startswith(_PASS_PREFIXES) or k.startswith(_PASS_PREFIXES_LOWER)
    }
    if source.get("applyEnvVarsToBuild") is True:
        env |= {var["name"]: env_var_value(secrets_key, var) for var in source.get("envVars") or []}
    return env | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"}


@dataclass
class Steps:
    """Runs build steps one after the other under one deadline, stopping them on abort; in
    `sandbox`, as a sandbox uid, with the owner's build home as HOME."""

    log: LineLog
    env: dict[str, str]
    deadline: float | None  # time.monotonic()
    abort_fd: int | None  # readable once the build must stop
    sandbox: Sandbox | None = None
    owner: str = ""
    # While making a directory in the sandbox: the uid's slot, the directory, the owner's build home.
    _making: tuple[Slot, Path, Path] | None = None

    @contextlib.contextmanager
    def making(self, root: Path) -> Iterator[None]:
        """The steps in here make `root`: in a sandbox, under a uid of their own that owns `root` and
        the owner's build home meanwhile; root's again after."""
        if self.sandbox is None:
            yield
            return
        home = self.sandbox.owner_home(self.owner)
        # One build of an owner at a time on this machine uses the home: it belongs to its uid meanwhile.
        with locked(
            home.with_name(f"{home.name}.lock"), self, "Another build of this user's is installing; waiting."
        ):
            slot = self.sandbox.slot()
            try:
                for tree in (root, home):
                    chown_tree(tree, slot.uid)
                self._making = (slot, root, home)
                yield
            finally:
                self._making = None
                slot.close()
                if root.exists():
                    chown_tree(root, 0)

    def _remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def check(self, wait_s: float = 0.0) -> None:
        """Raise if the build was aborted or its time is up (waiting up to wait_s for an abort)."""
        if self.abort_fd is not None:
            ready, _, _ = select.select([self.abort_fd], [], [], wait_s)
            if ready:
                raise BuildAborted("The build was aborted.")
        elif wait_s:
            time.sleep(wait_s)
        if self._remaining() == 0.0:
            raise BuildTimedOut("The build ran out of time.")

    def run(
        self,
        what: str,
        argv: list[str],
        cwd: Path,
        *,
        env: dict[str, str] | None = None,
        shown: str | None = None,
    ) -> None:
        """One step (`what` names it in the failure message), its output into the log; `env` instead
        of the steps' own, `shown` logged instead of argv ("": nothing)."""
        self.check()
        shown = shlex.join(argv) if shown is None else shown
        if shown:
            self.log.line(f"$ {shown}")
        env = self.env if env is None else env
        if self._making is not None:
            slot, root, home = self._making
            argv = slot.wrap(argv, str(cwd), writable=[str(root)], home=home)
            env = Slot.env(env)
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a timeout or abort kills all it started
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, self.log), daemon=True)
        reader.start()
        pidfd = os.pidfd_open(proc.pid)
        watched = [pidfd] if self.abort_fd is None else [pidfd, self.abort_fd]
        try:
            ready, _, _ = select.select(watched, [], [], self._remaining())
            if pidfd not in ready:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
                if ready:
                    raise BuildAborted("The build was aborted.")
                raise BuildTimedOut("The build ran out of time.")
            code = proc.wait()
        finally:
            os.close(pidfd)
            kill_group(proc.pid, signal.SIGKILL)  # whatever it left behind in its group
            reader.join(timeout=5)
        if code != 0:
            raise BuildFailed(f"{what} failed with exit code {code}; its output is in the log above.")


@contextlib.contextmanager
def locked(path: Path, steps: Steps, waiting: str) -> Iterator[None]:
    """flock on path; while another process holds it, say `waiting` and wait (abort and the deadline
    still count)."""
    with open(path, "a") as handle:
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    steps.log.line(f"[greenroom] {waiting}")
                    told = True
                steps.check(wait_s=0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
