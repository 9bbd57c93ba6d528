"""Build directories: a version's files, its virtualenv and node_modules, made once per content.

Under the worker's builds dir (GREENROOM_DATA_DIR/builds):

    <key>/app/    the source files: the actor's working directory (node_modules after npm install)
    <key>/venv/   a virtualenv, when the files have a requirements.txt
    <key>/built   written last: the directory is complete
    <key>.lock    flock'ed by the process building <key>; others on this machine wait, then reuse it

The key hashes what the directory is made of (the files and the worker's Python) and whose it is (the
owner's user id), so a version whose files did not change is built once per owner and worker
machine, however many builds and runs use it; another user's identical files get a directory of
their own, so no run can change what another user's run executes. A build with useCache=false gets
a directory of its own (its id joins the key). Whoever needs a directory first makes it, a build job
or a run, so a run never waits for a build queued behind it; the lock makes the other wait and reuse
the result. A half-made directory (a killed worker) is made again.

In a sandbox (worker/sandbox/), pip and npm run as a sandbox uid that can write only the directory
being made and the owner's build home (their caches); the directory is root's again once made, and
runs see it read-only. What a step leaves there (a symlink to anywhere) the worker never writes or
reads through.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Protocol

from server.secrets import env_var_value
from server.services.validation import check_source_path
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


def read_inside(root: Path, path: Path) -> str:
    """A file of a build directory, read by the worker (root) only if it is within `root` (a build
    step can leave symlinks to anywhere). Raises OSError otherwise."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        raise PermissionError(f"{path} leads out of its build directory")
    return real.read_text(errors="replace")


@dataclass(frozen=True)
class BuildDir:
    app: Path  # the working directory
    venv: Path | None  # the virtualenv, if the files have a requirements.txt

    @property
    def root(self) -> Path:
        return self.app.parent

    @property
    def python(self) -> str:
        """What `python3` means for this actor: the venv's, else the worker's own interpreter."""
        return str(self.venv / "bin" / "python") if self.venv is not None else sys.executable

    def process_env(self, env: dict[str, str]) -> dict[str, str]:
        """The actor's environment with the venv's and node_modules' bin directories first on PATH."""
        paths = []
        if self.venv is not None:
            paths.append(str(self.venv / "bin"))
            env = {k: v for k, v in env.items() if k != "PYTHONHOME"} | {"VIRTUAL_ENV": str(self.venv)}
        node_bin = self.app / "node_modules" / ".bin"
        if node_bin.is_dir():
            paths.append(str(node_bin))
        return env | {"PATH": os.pathsep.join([*paths, env.get("PATH") or os.defpath])}


def content_key(source: dict[str, Any], owner: str) -> str:
    """The hash of what a build directory is made of (the files, and the Python that makes the venv)
    and of whose it is."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{sys.executable}\0{owner}\0".encode())
    for file in source.get("sourceFiles") or []:
        entry = [file.get("name"), bool(file.get("folder")), file.get("format"), file.get("content")]
        digest.update(json.dumps(entry).encode() + b"\n")
    return digest.hexdigest()[:32]


_KEYS: dict[str, str] = {}  # build id -> key: a build's files never change, so hash them once


def build_key(build_id: str, source: dict[str, Any], use_cache: bool, owner: str) -> str:
    key = _KEYS.get(build_id)
    if key is None:
        content = content_key(source, owner)
        key = content if use_cache else f"{content}-{build_id}"
        if len(_KEYS) > 4096:
            _KEYS.clear()
        _KEYS[build_id] = key
    return key


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
        with _locked(
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

    def run(self, what: str, argv: list[str], cwd: Path) -> None:
        """One step (`what` names it in the failure message), its output into the log."""
        self.check()
        self.log.line(f"$ {shlex.join(argv)}")
        env = self.env
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


def _write_files(app: Path, files: list[dict[str, Any]]) -> None:
    for file in files:
        path = app / check_source_path(file["name"])  # the API checked; a worker never trusts rows
        if file.get("folder"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        content = file.get("content", "")
        data = base64.b64decode(content) if file.get("format") == "BASE64" else content.encode()
        path.write_bytes(data)


def _worker_pip_installs_elsewhere() -> bool:
    """pip 22.3+ installs into another interpreter (--python): the venv then needs no pip of its own,
    which saves the ~8 s ensurepip takes here."""
    try:
        major, minor = (int(p) for p in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (22, 3)


def _install_python(app: Path, venv: Path, steps: Steps) -> None:
    pip_args = ["install", "--no-input", "--progress-bar", "off", "-r", "requirements.txt"]
    if _worker_pip_installs_elsewhere():
        steps.run("python -m venv", [sys.executable, "-m", "venv", "--without-pip", str(venv)], app)
        python = str(venv / "bin" / "python")
        steps.run("pip install", [sys.executable, "-m", "pip", "--python", python, *pip_args], app)
    else:
        steps.run("python -m venv", [sys.executable, "-m", "venv", str(venv)], app)
        steps.run("pip install", [str(venv / "bin" / "python"), "-m", "pip", *pip_args], app)


def _install_node(app: Path, steps: Steps) -> None:
    npm = shutil.which("npm", path=steps.env.get("PATH"))
    if npm is None:
        raise BuildFailed("The files have a package.json, and this worker has no npm to install it.")
    steps.run(
        "npm install", [npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier"], app
    )


@contextlib.contextmanager
def _locked(path: Path, steps: Steps, waiting: str) -> Iterator[None]:
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


def _done(root: Path) -> BuildDir | None:
    try:
        made = json.loads(read_inside(root, root / "built"))
    except (OSError, ValueError):
        return None
    return BuildDir(root / "app", root / "venv" if made.get("venv") else None)


def prepare(source: dict[str, Any], key: str, builds_dir: Path, steps: Steps) -> tuple[BuildDir, bool]:
    """The build directory for `key`, made now if this machine has none: (directory, was cached)."""
    root = builds_dir / key
    made = _done(root)
    if made is not None:
        return made, True
    builds_dir.mkdir(parents=True, exist_ok=True)
    with _locked(
        builds_dir / f"{key}.lock", steps, "The same files are being built on this worker; waiting."
    ):
        made = _done(root)
        if made is not None:
            steps.log.line("[greenroom] Another build made the same files; using its result.")
            return made, True
        shutil.rmtree(root, ignore_errors=True)  # a build that died half-way
        try:
            app = root / "app"
            app.mkdir(parents=True)
            _write_files(app, source.get("sourceFiles") or [])
            venv = None
            with steps.making(root):
                if (app / "requirements.txt").is_file():
                    venv = root / "venv"
                    _install_python(app, venv, steps)
                if (app / "package.json").is_file():
                    _install_node(app, steps)
            # The steps could write here (a sandboxed step as its uid): what they left under these
            # names (a symlink to /etc/passwd) is replaced, never written through.
            partial = root / "built.partial"
            partial.unlink(missing_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as marker:
                marker.write(json.dumps({"venv": venv is not None}))
            partial.rename(root / "built")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return BuildDir(app, venv), False
