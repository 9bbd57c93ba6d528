"""`greenroom push DIR`: deploy a local actor directory over the HTTP API, as `apify push` does.

Reads `.actor/actor.json` (name, title, version, buildTag, environmentVariables), uploads the files
as the version's SOURCE_FILES (leaving out what the directory's .gitignore names, and .git,
node_modules, .venv, storage and caches), creates the actor if it does not exist, then waits for the
build and prints its status and the end of its log. Exit code 0 only if the build succeeded.

"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from server.cli.api import TERMINAL, Api, CliError, add_api_options, resolve_api
from server.cli.progress import Progress
from server.settings import Settings

SKIPPED_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "storage", "apify_storage", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache"}
)  # fmt: skip
LOG_TAIL_LINES = 20


class GitIgnore:
    """The common part of .gitignore: globs, `/`-anchored and `dir/` patterns, `!` negations."""

    def __init__(self, lines: list[str]):
        self._rules: list[tuple[bool, bool, bool, str]] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = "/" in line
            self._rules.append((negated, dir_only, anchored, line.lstrip("/")))

    @classmethod
    def of(cls, directory: Path) -> GitIgnore:
        path = directory / ".gitignore"
        return cls(path.read_text(errors="replace").splitlines() if path.is_file() else [])

    def ignored(self, relative: PurePosixPath, is_dir: bool) -> bool:
        ignored = False
        for negated, dir_only, anchored, pattern in self._rules:
            if dir_only and not is_dir:
                continue
            target = str(relative) if anchored else relative.name
            if fnmatch.fnmatchcase(target, pattern):
                ignored = not negated
        return ignored


def source_files(directory: Path) -> list[dict[str, Any]]:
    """The directory's files as Apify's sourceFiles: TEXT when UTF-8, else BASE64; sorted by name."""
    ignore = GitIgnore.of(directory)
    files: list[dict[str, Any]] = []

    def walk(folder: Path) -> None:
        for entry in sorted(folder.iterdir()):
            relative = PurePosixPath(entry.relative_to(directory).as_posix())
            if entry.is_symlink() and not entry.exists():
                continue
            if entry.is_dir():
                if entry.name not in SKIPPED_DIRS and not ignore.ignored(relative, True):
                    walk(entry)
            elif entry.is_file() and not ignore.ignored(relative, False):
                data = entry.read_bytes()
                try:
                    if b"\x00" in data:
                        raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL")
                    files.append({"name": str(relative), "format": "TEXT", "content": data.decode()})
                except UnicodeDecodeError:
                    content = base64.b64encode(data).decode()
                    files.append({"name": str(relative), "format": "BASE64", "content": content})

    walk(directory)
    return files


def read_actor_json(directory: Path) -> dict[str, Any]:
    path = directory / ".actor" / "actor.json"
    if not path.is_file():
        raise CliError(f"{path} not found: `greenroom push` deploys a directory with an .actor/actor.json.")
    try:
        spec = json.loads(path.read_text())
    except ValueError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise CliError(f"{path} needs a 'name'.")
    return spec


def _env_vars(spec: dict[str, Any], old: dict[str, Any] | None, say: Callable[[str], None]) -> list[Any]:
    """actor.json's environmentVariables. "@secret" values are Apify CLI secrets, which this machine
    does not have: the version keeps a secret of that name set through the API, else it is skipped."""
    kept = {v["name"]: v for v in (old or {}).get("envVars") or []}
    out: list[Any] = []
    for name, value in (spec.get("environmentVariables") or {}).items():
        if isinstance(value, str) and value.startswith("@"):
            if kept.get(name, {}).get("isSecret"):
                out.append({"name": name, "isSecret": True})  # no value: the stored one stays
            else:
                say(f"warning: {name} refers to the secret {value}; set it as a secret env var instead")
            continue
        out.append({"name": name, "value": str(value)})
    return out


def _newest_build(api: Api, actor_id: str) -> dict[str, Any] | None:
    items = api.call("GET", f"/acts/{actor_id}/builds", {"desc": 1, "limit": 1})["items"]
    return items[0] if items else None


def push(directory: Path, api: Api, *, wait_s: float = 600, say: Callable[[str], None] = print) -> int:
    """Create or update the actor and its version from `directory`, wait for the build; exit code."""
    spec = read_actor_json(directory)
    name, number = spec["name"], str(spec.get("version") or "0.0")
    files = source_files(directory)
    size = sum(len(f["content"]) for f in files)
    say(f"Pushing {directory} as {name} {number} ({len(files)} files, {size // 1024} KiB) to {api.base_url}")
    try:
        actor = api.call("GET", f"/acts/~{urllib.parse.quote(name)}")
    except CliError as exc:
        if "record-not-found" not in str(exc):
            raise
        actor = None
    old = next((v for v in (actor or {}).get("versions", []) if v["versionNumber"] == number), None)
    version = {
        "versionNumber": number,
        "sourceType": "SOURCE_FILES",
        "sourceFiles": files,
        "buildTag": spec.get("buildTag") or "latest",
        "envVars": _env_vars(spec, old, say),
    }
    if actor is None:
        body = {"name": name, "versions": [version]} | ({"title": spec["title"]} if spec.get("title") else {})
        actor = api.call("POST", "/acts", body=body)
        say(f"Created actor {name} ({actor['id']})")
        before = None
    else:
        before = _newest_build(api, actor["id"])
        if old is None:
            api.call("POST", f"/acts/{actor['id']}/versions", body=version)
        else:
            api.call("PUT", f"/acts/{actor['id']}/versions/{number}", body=version)
        say(f"Updated version {number} of {name} ({actor['id']})")
    # A changed version is built at once; an unchanged one is built now, on request (from the cache).
    build = _newest_build(api, actor["id"])
    if build is None or (before is not None and build["id"] == before["id"]):
        build = api.call(
            "POST", f"/acts/{actor['id']}/builds", {"version": number, "tag": version["buildTag"]}
        )
    return _wait_and_report(api, build["id"], wait_s, say)


def _wait_and_report(api: Api, build_id: str, wait_s: float, say: Callable[[str], None]) -> int:
    deadline = time.monotonic() + wait_s
    progress = Progress(f"Build {build_id}")
    while True:
        # Short waits, so that the progress line moves; each is still one held request, no polling.
        build = api.call("GET", f"/actor-builds/{build_id}", {"waitForFinish": 5})
        progress.update(build["status"])
        if build["status"] in TERMINAL or time.monotonic() > deadline:
            break
    progress.done()
    log = str(api.call("GET", f"/actor-builds/{build_id}/log"))
    tail = log.rstrip("\n").split("\n")[-LOG_TAIL_LINES:]
    say("--- build log (last lines) ---")
    for line in tail:
        say(line)
    seconds = (build.get("stats") or {}).get("runTimeSecs", 0)
    say(f"Build {build['buildNumber']} ({build['id']}): {build['status']} in {seconds:g} s")
    return 0 if build["status"] == "SUCCEEDED" else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "push",
        help="deploy an actor directory (with .actor/actor.json) and build it",
        description="Create or update the actor from DIRECTORY's .actor/actor.json and files, build it, "
        "and print the build's status and the end of its log. Exit code 0 only if the build succeeded.",
    )
    p.add_argument("directory", nargs="?", default=".", help="the actor's folder (default: .)")
    add_api_options(p)
    p.add_argument("--wait", type=float, default=600, help="seconds to wait for the build (default: 600)")
    p.set_defaults(handler=_command)


def _command(settings: Settings, args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    try:
        return push(directory, resolve_api(settings, args, near=directory), wait_s=args.wait)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if "no API token" not in str(exc) else 2
