"""SOURCE_FILES actors: started as a process in its own session, in their build's directory.

The directory (files, virtualenv, node_modules) is made by worker/builds/directory.py: by the build's job, or
here, by the run, when this worker does not have it yet (the build is still in progress, or it was
made on another machine).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from server.settings import Settings
from server.statuses import RunStatus
from worker.builds.directory import BuildDir, build_key, prepare, read_inside
from worker.builds.steps import Discard, LineLog, Steps, step_env
from worker.env import actor_env
from worker.runners.base import RunSpec
from worker.runners.standby import Exec, Standby
from worker.sandbox import Sandbox, SandboxUnavailable, Slot, sandbox_for
from worker.supervisor import Child

_CMD_RE = re.compile(r"^\s*CMD\s+(.+)$", re.MULTILINE)


def _dockerfile_cmd(directory: Path) -> list[str] | None:
    for candidate in (directory / ".actor" / "Dockerfile", directory / "Dockerfile"):
        try:
            text = read_inside(directory, candidate)
        except OSError:
            continue
        if text:
            matches = _CMD_RE.findall(text)
            if matches:
                text = matches[-1].strip()
                if text.startswith("["):
                    try:
                        return [str(part) for part in json.loads(text)]
                    except ValueError:
                        pass
                return ["/bin/sh", "-c", text]
    return None


def start_command(build: BuildDir, source: dict[str, Any]) -> list[str]:
    """The version's startCommand, else the Dockerfile's CMD, else a default by the files present."""
    directory = build.app
    if source.get("startCommand"):
        argv = shlex.split(source["startCommand"])
    elif (from_docker := _dockerfile_cmd(directory)) is not None:
        argv = from_docker
    elif (directory / "src" / "__main__.py").is_file():
        argv = ["python3", "-m", "src"]
    elif (directory / "main.py").is_file():
        argv = ["python3", "main.py"]
    elif _npm_start(directory):
        argv = ["npm", "start", "--silent"]
    elif (directory / "main.js").is_file():
        argv = ["node", "main.js"]
    else:
        raise FileNotFoundError(
            "No start command: set startCommand, a Dockerfile CMD, main.py, a package.json start script"
            " or main.js."
        )
    # python3 is the build's virtualenv, else the worker's own interpreter (the real binary, not a
    # version-manager shim on PATH, which costs 50 ms a start).
    if argv and argv[0] in ("python", "python3"):
        argv[0] = build.python
    return argv


def _npm_start(directory: Path) -> bool:
    try:
        scripts = json.loads(read_inside(directory, directory / "package.json")).get("scripts")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(scripts, dict) and bool(scripts.get("start"))


_UNUSABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABORTING, RunStatus.ABORTED)


def build_dir(
    spec: RunSpec, settings: Settings, log: LineLog | None, abort_fd: int | None, box: Sandbox | None
) -> BuildDir:
    """The run's build directory: this worker's, or made now (pip/npm output into the run log)."""
    if RunStatus(spec.build_status) in _UNUSABLE:
        raise RuntimeError(
            f"Build {spec.build_number} ({spec.build_id}) ended {spec.build_status}: its log says why."
        )
    key = build_key(spec.build_id, spec.source, spec.use_cache, spec.user_id)
    deadline = time.monotonic() + settings.build_timeout_s
    steps = Steps(
        log or Discard(),
        step_env(spec.source, settings.secrets_key),
        deadline,
        abort_fd,
        sandbox=box,
        owner=spec.user_id,
    )
    return prepare(spec.source, key, settings.builds_dir, steps)[0]


def spawn_process(
    spec: RunSpec,
    settings: Settings,
    standby: Standby,
    events_url: str,
    *,
    log: LineLog | None = None,
    abort_fd: int | None = None,
) -> Child:
    """The actor's program, exec'd in `standby`; `events_url` is where the run's events websocket
    listens. `log` gets the output of a build made for this run, which `abort_fd` (readable once the
    run is aborted) stops."""
    box = sandbox_for(settings)  # raises SandboxUnavailable where one is required and cannot be made
    build = build_dir(spec, settings, log, abort_fd, box)
    argv = start_command(build, spec.source)
    env = build.process_env(actor_env(spec, settings, events_url))
    if box is None:
        return standby.start(Exec(argv=argv, cwd=str(build.app), env=env))
    if standby.slot is None:
        raise SandboxUnavailable("this worker's standby has no sandbox identity")
    _check_program(argv[0], env.get("PATH"))
    wrapped = standby.slot.wrap(argv, str(build.app), read_only=[str(build.root)])
    return standby.start(Exec(argv=wrapped, cwd="/", env=Slot.env(env), sandboxed=True))


def _check_program(program: str, path: str | None) -> None:
    """Raise as exec would (OSError naming the program) if it is not there: inside the sandbox only
    setpriv could tell, in the run's log."""
    if shutil.which(program, path=path) is None:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), program)
