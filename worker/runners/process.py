"""SOURCE_FILES actors: files written once per build, started as a process in its own session."""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from server.services.validation import check_source_path
from server.settings import Settings
from worker.env import actor_env
from worker.runners.base import RunSpec
from worker.supervisor import Child

_CMD_RE = re.compile(r"^\s*CMD\s+(.+)$", re.MULTILINE)


def materialize(build_id: str, files: list[dict[str, Any]], builds_dir: Path) -> Path:
    """The build's directory, written once; concurrent writers race harmlessly to one rename."""
    target = builds_dir / build_id
    if target.is_dir():
        return target
    builds_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{build_id}-", dir=builds_dir))
    for file in files:
        path = staging / check_source_path(file["name"])
        if file.get("folder"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        content = file.get("content", "")
        data = base64.b64decode(content) if file.get("format") == "BASE64" else content.encode()
        path.write_bytes(data)
    try:
        staging.rename(target)
    except OSError:  # another worker finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _dockerfile_cmd(directory: Path) -> list[str] | None:
    for candidate in (directory / ".actor" / "Dockerfile", directory / "Dockerfile"):
        if candidate.is_file():
            matches = _CMD_RE.findall(candidate.read_text(errors="replace"))
            if matches:
                text = matches[-1].strip()
                if text.startswith("["):
                    try:
                        return [str(part) for part in json.loads(text)]
                    except ValueError:
                        pass
                return ["/bin/sh", "-c", text]
    return None


def start_command(directory: Path, source: dict[str, Any]) -> list[str]:
    """The version's startCommand, else the Dockerfile's CMD, else a default by the files present."""
    if source.get("startCommand"):
        argv = shlex.split(source["startCommand"])
    elif (from_docker := _dockerfile_cmd(directory)) is not None:
        argv = from_docker
    elif (directory / "src" / "__main__.py").is_file():
        argv = ["python3", "-m", "src"]
    elif (directory / "main.py").is_file():
        argv = ["python3", "main.py"]
    elif (directory / "main.js").is_file():
        argv = ["node", "main.js"]
    else:
        raise FileNotFoundError("No start command: set startCommand, a Dockerfile CMD, main.py or main.js.")
    # Until builds make per-actor virtualenvs, Python actors run on the worker's own interpreter (the
    # real binary, not a version-manager shim on PATH, which costs 50 ms a start).
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def spawn_process(spec: RunSpec, settings: Settings) -> Child:
    directory = materialize(spec.build_id, spec.source.get("sourceFiles") or [], settings.builds_dir)
    argv = start_command(directory, spec.source)
    proc = subprocess.Popen(
        argv,
        cwd=directory,
        env=actor_env(spec, settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    # The supervisor reaps the pid itself (os.wait4, for rusage); Popen must not try again.
    proc.returncode = 0
    return Child(pid=proc.pid, output=proc.stdout)
