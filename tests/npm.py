"""npm packages the tests drive (tests/js, tests/cli): installed with `npm ci` from their lockfile,
once per lockfile change (a stamp in node_modules says which), whichever pytest process gets there
first; the others wait for it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

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


JS_DIR = Path(__file__).resolve().parent / "js"


def run_js(
    script: str, url: str, token: str, *args: str, stdin: str | None = None, timeout_s: float = 120
) -> Any:
    """Run tests/js/<script> (npm-installed) against Greenroom at `url` as `token`'s user; its last
    stdout line, parsed as JSON. A failing script fails the test with what it printed."""
    assert NODE is not None
    # The client's agent honours HTTP(S)_PROXY: never send the loopback API through a proxy.
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    env = {
        **os.environ,
        "GREENROOM_URL": url,
        "GREENROOM_TOKEN": token,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    done = subprocess.run(
        [NODE, script, *args],
        cwd=npm_installed(JS_DIR),
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        pytest.fail(f"{script} failed:\n{done.stderr}\n{done.stdout}")
    return json.loads(done.stdout.strip().splitlines()[-1])
