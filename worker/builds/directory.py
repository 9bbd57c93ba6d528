"""Build directories: a version's files, its virtualenv and node_modules, made once per content.

Under the worker's builds dir (GREENROOM_DATA_DIR/builds):

    <key>/app/    the source files: the actor's working directory (node_modules after npm install);
                  with a Dockerfile, its last stage (worker/builds/stages.py)
    <key>/venv/   a virtualenv, when the files have a requirements.txt (or a Python stage RUNs steps)
    <key>/built   written last: the directory is complete, and what runs need of the Dockerfile
                  (the working directory, ENV, the start command)
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
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.services.validation import check_source_path
from worker.builds import dockerfile
from worker.builds.installs import install_node, install_python
from worker.builds.reading import read_inside
from worker.builds.stages import Image, Interpreter, needed_stages, stage_directory
from worker.builds.start import start_command, start_problem
from worker.builds.steps import BuildFailed, Steps, locked

# Joins the content key: directories made before builds ran Dockerfiles are not reused.
_LAYOUT = "dockerfile-1"


@dataclass(frozen=True)
class BuildDir:
    app: Path  # the app directory (a Dockerfile's last stage)
    venv: Path | None  # the virtualenv, if the files have a requirements.txt
    workdir: str = ""  # the runs' working directory, relative to app (a Dockerfile's WORKDIR)
    env: dict[str, str] = field(default_factory=dict)  # a Dockerfile's ENV, beneath the run's own
    command: tuple[str, ...] | None = None  # a Dockerfile's ENTRYPOINT + CMD

    @property
    def root(self) -> Path:
        return self.app.parent

    @property
    def cwd(self) -> Path:
        return self.app / self.workdir if self.workdir else self.app

    @property
    def python(self) -> str:
        """What `python3` means for this actor: the venv's, else the worker's own interpreter."""
        return str(self.venv / "bin" / "python") if self.venv is not None else sys.executable

    def process_env(self, env: dict[str, str]) -> dict[str, str]:
        """The actor's environment (over the Dockerfile's ENV) with the venv's and node_modules' bin
        directories first on PATH."""
        env = self.env | env
        paths = []
        if self.venv is not None:
            paths.append(str(self.venv / "bin"))
            env = {k: v for k, v in env.items() if k != "PYTHONHOME"} | {"VIRTUAL_ENV": str(self.venv)}
        for node_bin in dict.fromkeys(
            [self.cwd / "node_modules" / ".bin", self.app / "node_modules" / ".bin"]
        ):
            if node_bin.is_dir():
                paths.append(str(node_bin))
        return env | {"PATH": os.pathsep.join([*paths, env.get("PATH") or os.defpath])}


def content_key(source: dict[str, Any], owner: str) -> str:
    """The hash of what a build directory is made of (the files, and the Python that makes the venv)
    and of whose it is."""
    digest = hashlib.sha256()
    digest.update(f"{_LAYOUT}\0{sys.version}\0{sys.executable}\0{owner}\0".encode())
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


def _done(root: Path) -> BuildDir | None:
    try:
        made = json.loads(read_inside(root, root / "built"))
        command = made.get("command")
        return BuildDir(
            root / "app",
            root / "venv" if made.get("venv") else None,
            str(made.get("workdir") or ""),
            {str(k): str(v) for k, v in (made.get("env") or {}).items()},
            tuple(str(arg) for arg in command) if command is not None else None,
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _install(cwd: Path, root: Path, steps: Steps) -> Path | None:
    """The automatic installs (no Dockerfile steps): the venv, if one was made."""
    venv = None
    if (cwd / "requirements.txt").is_file():
        venv = root / "venv"
        install_python(cwd, venv, steps)
    if (cwd / "package.json").is_file():
        install_node(cwd, steps)
    return venv


def _run_dockerfile(
    source: dict[str, Any], found: dockerfile.Dockerfile, root: Path, steps: Steps
) -> BuildDir:
    """The Dockerfile's stages, in the sandbox; the automatic installs if its last stage RUNs nothing;
    its start command checked."""
    context = root / "context"
    _write_files(context, source.get("sourceFiles") or [])
    for index in needed_stages(found):
        stage_directory(root, found, found.stages[index]).mkdir(parents=True, exist_ok=True)
    # Apify's build args are the version's env vars when applyEnvVarsToBuild (step_env has them then).
    names = {var["name"] for var in source.get("envVars") or []}
    build_args = {name: value for name, value in steps.env.items() if name in names}
    with steps.making(root):
        image: Image = Interpreter(found, root, steps, build_args).run()
        build = BuildDir(
            root / "app", root / "venv" if image.venv else None, image.workdir, image.env, image.command
        )
        if not image.ran_steps:
            venv = _install(build.cwd, root, steps)
            build = BuildDir(build.app, venv or build.venv, build.workdir, build.env, build.command)
        for leftover in ("stages", "context", "home"):
            shutil.rmtree(root / leftover, ignore_errors=True)
    if not source.get("startCommand"):
        try:
            argv = start_command(build, source)
        except FileNotFoundError as exc:  # no CMD, no base image's, no default's files
            raise BuildFailed(str(exc)) from exc
        path = build.process_env({"PATH": steps.env.get("PATH") or os.defpath})["PATH"]
        problem = start_problem(argv, build.cwd, path)
        if problem is not None:
            raise BuildFailed(f"The start command `{' '.join(argv)}` cannot start: {problem}.")
        steps.log.line(f"[greenroom] Runs start with `{' '.join(argv)}` in {build.cwd}.")
    return build


def prepare(source: dict[str, Any], key: str, builds_dir: Path, steps: Steps) -> tuple[BuildDir, bool]:
    """The build directory for `key`, made now if this machine has none: (directory, was cached)."""
    root = builds_dir / key
    made = _done(root)
    if made is not None:
        return made, True
    found = dockerfile.find(source)  # a Dockerfile Greenroom cannot read fails before anything is made
    builds_dir.mkdir(parents=True, exist_ok=True)
    with locked(builds_dir / f"{key}.lock", steps, "The same files are being built on this worker; waiting."):
        made = _done(root)
        if made is not None:
            steps.log.line("[greenroom] Another build made the same files; using its result.")
            return made, True
        shutil.rmtree(root, ignore_errors=True)  # a build that died half-way
        try:
            app = root / "app"
            app.mkdir(parents=True)
            if found is None:
                _write_files(app, source.get("sourceFiles") or [])
                with steps.making(root):
                    build = BuildDir(app, _install(app, root, steps))
            else:
                build = _run_dockerfile(source, found, root, steps)
            # The steps could write here (a sandboxed step as its uid): what they left under these
            # names (a symlink to /etc/passwd) is replaced, never written through.
            partial = root / "built.partial"
            partial.unlink(missing_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            marker = {
                "venv": build.venv is not None,
                "workdir": build.workdir,
                "env": build.env,
                "command": build.command,
            }
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(marker))
            partial.rename(root / "built")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return build, False
