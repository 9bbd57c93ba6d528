"""The automatic installs of a build without Dockerfile steps: requirements.txt into a virtualenv
(pip), package.json into node_modules (npm)."""

from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path

from worker.builds.steps import BuildFailed, Steps


def worker_pip_installs_elsewhere() -> bool:
    """pip 22.3+ installs into another interpreter (--python): the venv then needs no pip of its own,
    which saves the ~8 s ensurepip takes here."""
    try:
        major, minor = (int(p) for p in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (22, 3)


def install_python(app: Path, venv: Path, steps: Steps) -> None:
    pip_args = ["install", "--no-input", "--progress-bar", "off", "-r", "requirements.txt"]
    if worker_pip_installs_elsewhere():
        steps.run("python -m venv", [sys.executable, "-m", "venv", "--without-pip", str(venv)], app)
        python = str(venv / "bin" / "python")
        steps.run("pip install", [sys.executable, "-m", "pip", "--python", python, *pip_args], app)
    else:
        steps.run("python -m venv", [sys.executable, "-m", "venv", str(venv)], app)
        steps.run("pip install", [str(venv / "bin" / "python"), "-m", "pip", *pip_args], app)


def install_node(app: Path, steps: Steps) -> None:
    npm = shutil.which("npm", path=steps.env.get("PATH"))
    if npm is None:
        raise BuildFailed("The files have a package.json, and this worker has no npm to install it.")
    steps.run(
        "npm install", [npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier"], app
    )
