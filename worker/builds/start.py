"""An actor's start command: the version's, else its Dockerfile's (ENTRYPOINT + CMD, or its base
image's), else a default by the files present; and, for a Dockerfile build, whether it can start.

A build checks its Dockerfile's command before it succeeds, as a run would find out only later: the
program is on the runs' PATH or in the build, the script `node`/`python` are given is there, and the
package.json script `npm start` / `npm run X` names exists and starts the same way (`Cannot find
module .../dist/main.js` is a build that never compiled, not a run that failed).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.builds.reading import read_inside

if TYPE_CHECKING:
    from worker.builds.directory import BuildDir

_SHELLS = ("sh", "bash", "dash")
_SEPARATORS = ("&&", "||", ";", "|", "&")


def start_command(build: BuildDir, source: dict[str, Any]) -> list[str]:
    """The version's startCommand, else the Dockerfile's, else a default by the files present."""
    directory = build.cwd
    if source.get("startCommand"):
        argv = shlex.split(source["startCommand"])
    elif build.command is not None:
        argv = list(build.command)
    elif (directory / "src" / "__main__.py").is_file():
        argv = ["python3", "-m", "src"]
    elif (directory / "main.py").is_file():
        argv = ["python3", "main.py"]
    elif npm_scripts(directory).get("start"):
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


def npm_scripts(directory: Path) -> dict[str, Any]:
    try:
        scripts = json.loads(read_inside(directory, directory / "package.json")).get("scripts")
    except (OSError, ValueError, AttributeError):
        return {}
    return scripts if isinstance(scripts, dict) else {}


def start_problem(argv: list[str], cwd: Path, path: str, depth: int = 0) -> str | None:
    """Why `argv` cannot start in `cwd` with `path` as PATH; None when it looks startable (what a
    shell would expand, or an unknown program's arguments, is not judged)."""
    if not argv or depth > 3:
        return None
    program, args = argv[0], argv[1:]
    if os.path.basename(program) in _SHELLS and len(args) >= 2 and args[0] == "-c":
        return _shell_problem(args[1], cwd, path, depth)
    if "/" in program:
        found = cwd / program
        if not (found.is_file() and os.access(found, os.X_OK)):
            return f"{program} is not an executable file in the build"
    elif shutil.which(program, path=path) is None:
        return f"{program} is not on the runs' PATH ({path})"
    name = os.path.basename(program)
    script = args[0] if args and not args[0].startswith("-") else None
    if name.startswith(("node", "python")) and script is not None:
        tried = [script] + ([f"{script}.js", f"{script}/index.js"] if name.startswith("node") else [])
        if not any((cwd / candidate).exists() for candidate in tried):
            return f"{script} does not exist in the build (`{shlex.join(argv)}` would fail)"
    if name == "npm" and args:
        wanted = args[1] if args[0] in ("run", "run-script") and len(args) > 1 else args[0]
        if args[0] in ("start", "run", "run-script") and wanted != "-":
            scripts = npm_scripts(cwd)
            if wanted == "start" and not scripts.get("start"):
                return None if (cwd / "server.js").is_file() else "package.json has no start script"
            if not isinstance(scripts.get(wanted), str):
                return f"package.json has no {wanted!r} script"
            return _shell_problem(scripts[wanted], cwd, path, depth)
    return None


def _shell_problem(command: str, cwd: Path, path: str, depth: int) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    first: list[str] = []
    for word in words:
        if word in _SEPARATORS:
            break
        first.append(word)
    while first and ("=" in first[0] or first[0] == "exec"):  # VAR=value before the program
        first = first[1:]
    if not first or any("$" in word or "`" in word for word in first):
        return None
    return start_problem(first, cwd, path, depth + 1)
