"""A Dockerfile's FROM, mapped to a toolchain this worker has: Apify's base images and the official
node and python images run on the worker's Node.js or Python, never on the image's own files.

What an image gives a stage here: its kind (node or python), the directory its WORKDIR is (where the
stage's files go), the environment variables of Apify's images that change what steps and actors do,
and the start command Apify's images default to. Everything else of the image (its OS packages, its
exact versions, browsers) is not there; the build's log says what was used instead and what differs.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Literal

from worker.builds.steps import BuildFailed

Kind = Literal["node", "python"]

_APIFY_WORKDIR = "/usr/src/app"
_BROWSER_WORKDIR = "/home/myuser"  # Apify's browser images work in the user's home
_CHROMIUM = "/usr/bin/chromium"
# Set by Apify's images and read by the SDKs, npm and pip: without them a step or an actor behaves
# otherwise here than on Apify (npm installs devDependencies unless NODE_ENV says production).
_NODE_ENV = {"NODE_ENV": "production"}
_PYTHON_ENV = {
    "PYTHONUNBUFFERED": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_ROOT_USER_ACTION": "ignore",
}
_BROWSER_ENV = {
    "CRAWLEE_SKIP_BROWSER_INSTALL": "1",
    "PUPPETEER_SKIP_DOWNLOAD": "true",
    "PUPPETEER_SKIP_CHROMIUM_DOWNLOAD": "true",
    "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
}


@dataclass(frozen=True)
class BaseImage:
    """What a supported FROM image gives a stage."""

    kind: Kind
    workdir: str
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None  # the image's CMD, when a stage sets none
    notes: tuple[str, ...] = ()  # log lines: what was used, what differs


def _reference(image: str) -> tuple[str | None, str, str]:
    """(registry or None for Docker Hub, repository, tag) of an image reference."""
    name = image.split("@", 1)[0]
    registry = None
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
        if registry in ("docker.io", "index.docker.io", "registry-1.docker.io"):
            registry = None
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    if repository.startswith("library/"):
        repository = repository.removeprefix("library/")
    return registry, repository.lower(), tag


def _asked_version(tag: str) -> str | None:
    """The language version a tag names (`20`, `3.12`, `22-bookworm`, `3.12-slim`), if any."""
    found = re.match(r"\d+(\.\d+)*", tag)
    return found.group(0) if found else None


@functools.cache
def _node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip().lstrip("v") or None


def _differs(asked: str | None, have: str) -> bool:
    return asked is not None and have.split(".")[: len(asked.split("."))] != asked.split(".")


def _toolchain_note(image: str, kind: Kind, asked: str | None) -> str:
    if kind == "node":
        have = _node_version()
        if have is None:
            raise BuildFailed(f"FROM {image} needs Node.js, and this worker has none (node is not on PATH).")
        what = f"Node.js {have}"
        language = "Node.js"
    else:
        have = ".".join(str(part) for part in sys.version_info[:3])
        what = f"Python {have} ({sys.executable})"
        language = "Python"
    note = f"[greenroom] FROM {image}: the image is not used; this worker's {what} is."
    if _differs(asked, have):
        note += f" The image has {language} {asked}: the versions differ."
    elif asked is not None:
        note += f" The image has {language} {asked} too."
    return note + " The image's other files (OS packages, global tools) are not there."


def _browser_note(image: str) -> tuple[dict[str, str], str]:
    if shutil.which("chromium") or shutil.which("chromium", path="/usr/bin"):
        env = _BROWSER_ENV | {"APIFY_CHROME_EXECUTABLE_PATH": _CHROMIUM}
        return env, (
            f"[greenroom] {image} comes with browsers; this worker provides none of them but its"
            f" Chromium at {_CHROMIUM} (APIFY_CHROME_EXECUTABLE_PATH)."
        )
    return _BROWSER_ENV, f"[greenroom] {image} comes with browsers; this worker provides none."


def base_image(image: str) -> BaseImage:
    """The stage base for a FROM image; BuildFailed naming the image if Greenroom cannot provide it."""
    registry, repository, tag = _reference(image)
    asked = _asked_version(tag)
    unknown = BuildFailed(
        f"FROM {image}: Greenroom builds without Docker and provides only Apify's base images"
        " (apify/actor-node*, apify/actor-python*) and the official node and python images, on this"
        " worker's Node.js and Python."
    )
    if registry is not None:
        raise unknown
    env: dict[str, str] = {}
    notes: list[str] = []
    command: tuple[str, ...] | None = None
    if repository in ("node", "python"):
        kind: Kind = "node" if repository == "node" else "python"
        workdir = "/"
    elif repository == "apify/actor-node" or repository.startswith("apify/actor-node-"):
        kind, workdir, env = "node", _APIFY_WORKDIR, dict(_NODE_ENV)
        command = ("npm", "start", "--silent")
        if repository != "apify/actor-node":
            workdir = _BROWSER_WORKDIR
            browser_env, note = _browser_note(image)
            env |= browser_env
            notes.append(note)
    elif repository == "apify/actor-python" or repository.startswith("apify/actor-python-"):
        kind, workdir, env = "python", _APIFY_WORKDIR, dict(_PYTHON_ENV)
        command = ("python3", "-m", "src")
        if repository != "apify/actor-python":
            browser_env, note = _browser_note(image)
            env |= browser_env
            notes.append(note)
    else:
        raise unknown
    return BaseImage(kind, workdir, env, command, (_toolchain_note(image, kind, asked), *notes))
