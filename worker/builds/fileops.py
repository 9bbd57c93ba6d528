"""File operations of a Dockerfile build (COPY, ADD, the pip of a Python stage), run as a build step:
in the sandbox, as the build's uid, like RUN. The worker (root) never writes into a directory that a
step could have filled with symlinks to anywhere.

Run as `python -I -c <this file's text> <json>`: the standard library only, nothing of Greenroom's.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sys
import tarfile
from typing import Any


def _pattern(pattern: str) -> tuple[re.Pattern[str], bool]:
    """A .dockerignore line as a regex on slash-separated paths (Go's filepath.Match plus `**`), and
    whether it is an exception (`!`)."""
    exception = pattern.startswith("!")
    pattern = os.path.normpath(pattern.removeprefix("!").strip()).lstrip("/")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out[-1] = "(.*/)?"
                i += 1
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i)
            out.append(pattern[i : end + 1] if end > 0 else re.escape(char))
            i = end if end > 0 else i
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z"), exception


def ignored(path: str, patterns: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for regex, exception in patterns:
        if any(regex.match(prefix) for prefix in prefixes):
            result = not exception
    return result


def copy(spec: dict[str, Any]) -> None:
    base, dest, into = spec["base"], spec["dest"], spec["into"]
    patterns = [_pattern(p) for p in spec.get("ignore") or []]
    exceptions = any(exception for _, exception in patterns)
    found: list[str] = []
    for source in spec["sources"]:
        if glob.has_magic(source):
            matches = sorted(glob.glob(source, root_dir=base, include_hidden=True))
        else:
            matches = [source] if os.path.lexists(os.path.join(base, source)) else []
        matches = [m for m in matches if m in (".", "") or not ignored(os.path.normpath(m), patterns)]
        if not matches:
            sys.exit(f"{source}: no such file in {spec['what']}")
        found.extend(matches)
    into = into or len(found) > 1
    for match in found:
        path = os.path.normpath(os.path.join(base, match))
        if os.path.isdir(path) and not os.path.islink(path):

            def skip(directory: str, names: list[str]) -> list[str]:
                relative = os.path.relpath(directory, base)
                skipped = []
                for name in names:
                    # With `!` exceptions, an ignored directory may hold a file that is not: go in.
                    if exceptions and os.path.isdir(os.path.join(directory, name)):
                        continue
                    if ignored(os.path.normpath(os.path.join(relative, name)), patterns):
                        skipped.append(name)
                return skipped

            shutil.copytree(path, dest, symlinks=True, dirs_exist_ok=True, ignore=skip if patterns else None)
            continue
        if spec.get("extract") and tarfile.is_tarfile(path):
            os.makedirs(dest, exist_ok=True)
            with tarfile.open(path) as archive:
                archive.extractall(dest, filter="data")
            continue
        target = os.path.join(dest, os.path.basename(path)) if into or os.path.isdir(dest) else dest
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=False)


def pip_wrappers(spec: dict[str, Any]) -> None:
    """pip, pip3 and pipX.Y in a virtualenv made without pip: the worker's pip, installing into it
    (saves the seconds ensurepip takes)."""
    venv, python = spec["venv"], spec["python"]
    version = "{}.{}".format(*sys.version_info[:2])
    script = f"#!/bin/sh\nexec '{python}' -m pip --python '{venv}/bin/python' \"$@\"\n"
    for name in ("pip", "pip3", f"pip{version}"):
        path = os.path.join(venv, "bin", name)
        with open(path, "w") as wrapper:
            wrapper.write(script)
        os.chmod(path, 0o755)


if __name__ == "__main__":
    order = json.loads(sys.argv[1])
    {"copy": copy, "pip": pip_wrappers}[order["op"]](order)
