"""SOURCE_FILES actors: started as a process in its own session, in their build's directory.

The directory (files, virtualenv, node_modules) is made by worker/builds/directory.py: by the build's job, or
here, by the run, when this worker does not have it yet (the build is still in progress, or it was
made on another machine).
"""

from __future__ import annotations

import errno
import os
import shutil
import time

from server.settings import Settings
from server.statuses import RunStatus
from worker.builds.directory import BuildDir, build_key, prepare
from worker.builds.start import start_command
from worker.builds.steps import Discard, LineLog, Steps, step_env
from worker.env import actor_env
from worker.runners.base import RunSpec
from worker.runners.standby import Standby
from worker.runners.standby_child import Exec
from worker.sandbox import Sandbox, SandboxUnavailable, Slot, sandbox_for
from worker.supervisor import Child

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
    web_port: int | None = None,
) -> Child:
    """The actor's program, exec'd in `standby`; `events_url` is where the run's events websocket
    listens, `web_port` where its web server is to (None: a free port). `log` gets the output of a
    build made for this run, which `abort_fd` (readable once the run is aborted) stops."""
    box = sandbox_for(settings)  # raises SandboxUnavailable where one is required and cannot be made
    build = build_dir(spec, settings, log, abort_fd, box)
    argv = start_command(build, spec.source)
    env = build.process_env(actor_env(spec, settings, events_url, web_port))
    if box is None:
        return standby.start(Exec(argv=argv, cwd=str(build.cwd), env=env))
    if standby.slot is None:
        raise SandboxUnavailable("this worker's standby has no sandbox identity")
    _check_program(argv[0], env.get("PATH"))
    if standby.premade:
        standby.slot.show(build.root)
        return standby.start(Exec(argv=argv, cwd=str(build.cwd), env=Slot.env(env), sandboxed=True))
    wrapped = standby.slot.wrap(argv, str(build.cwd), read_only=[str(build.root)])
    return standby.start(Exec(argv=wrapped, cwd="/", env=Slot.env(env), sandboxed=True))


def _check_program(program: str, path: str | None) -> None:
    """Raise as exec would (OSError naming the program) if it is not there: inside the sandbox only
    setpriv could tell, in the run's log."""
    if shutil.which(program, path=path) is None:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), program)
