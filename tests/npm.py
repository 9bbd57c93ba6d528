"""npm packages the tests drive (tests/js, tests/cli): installed with `npm ci` from their lockfile,
once per lockfile change (a stamp in node_modules says which), whichever pytest process gets there
first; the others wait for it."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

NODE = shutil.which("node")
NPM = shutil.which("npm")


def npm_installed(directory: Path) -> Path:
    """`directory`'s node_modules as its package-lock.json says; a failing `npm ci` fails the test."""
    assert NPM is not None
    lockfile = directory / "package-lock.json"
    stamp = directory / "node_modules" / ".greenroom-lock-sha256"
    wanted = hashlib.sha256(lockfile.read_bytes()).hexdigest()
    lock_path = (
        Path(tempfile.gettempdir())
        / f"greenroom-npm-{hashlib.sha256(bytes(directory)).hexdigest()[:12]}.lock"
    )
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == wanted:
            return directory
        started = time.monotonic()
        done = subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {directory} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        stamp.write_text(wanted)
        print(f"npm ci in {directory.name} took {time.monotonic() - started:.1f} s")
    return directory
