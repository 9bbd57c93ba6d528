"""`greenroom dev` (what `make run` starts): embedded Redis + SQLite + workers + API, and a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.actors import callable_actor
from tests.procs import alive
from tests.stack import ROOT, free_port


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_dev_starts_everything_serves_run_sync_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proxy_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENROOM_")}
    env |= {
        "GREENROOM_PROXY_PORT": str(proxy_port),
        "GREENROOM_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
        "GREENROOM_CALLABLE_MODULES": "tests.actors",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "dev", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url_line = proc.stdout.readline()
        token_line = proc.stdout.readline()
        assert url_line.strip() == f"Greenroom is running at http://127.0.0.1:{port}/ (the API at /v2)"
        match = re.search(r"API token \(user 'admin'\): (\S+)", token_line)
        assert match
        token = match.group(1)
        assert (tmp_path / "data" / "admin-token").read_text().strip() == token
        assert (tmp_path / "data" / "greenroom.db").is_file()
        # Where `greenroom push`, `call` and `runs` find this Greenroom (server/cli/api.py).
        assert (tmp_path / "data" / "api-url").read_text().strip() == f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}/v2"
        # "running" is printed only once the API accepts connections: a script that waits for the
        # line may ask at once (it was printed about 0.6 s before, and this request failed).
        assert httpx.get(f"{base}/users/me", headers=headers).status_code == 200
        actor = httpx.post(f"{base}/acts", json=callable_actor("echo", "echo"), headers=headers).json()[
            "data"
        ]
        response = httpx.post(
            f"{base}/acts/{actor['id']}/run-sync", json={"dev": 1}, headers=headers, timeout=60
        )
        assert response.status_code == 201
        assert response.json() == {"input": {"dev": 1}}
        # The pool's Apify Proxy answers its status page (asked directly: not through the proxy).
        status = httpx.get(f"http://127.0.0.1:{proxy_port}/?format=json", timeout=10).json()
        assert status["connected"] is False
        # Killed, it is started again.
        (proxy,) = [p for p in _descendants(proc.pid) if b"worker.proxy" in _cmdline(p)]
        os.kill(proxy, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{proxy_port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the pool did not start its proxy again"
                time.sleep(0.1)
        started = _descendants(proc.pid)
        assert len(started) >= 5  # redis-server, the worker pool, its workers, the proxy
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in started if alive(p)], "greenroom dev left processes behind"
    assert not (tmp_path / "data" / "api-url").exists(), "a stopped greenroom dev is still advertised"
    assert proc.returncode == 0


def test_dev_reuses_a_valid_admin_token(tmp_path: Path) -> None:
    from server.cli.dev import admin_token as _admin_token
    from server.migrate import upgrade
    from server.settings import Settings

    settings = Settings(data_dir=tmp_path)
    upgrade(settings.sql_url)
    first = _admin_token(settings)
    assert _admin_token(settings) == first
    (tmp_path / "admin-token").write_text("not-a-token\n")
    third = _admin_token(settings)
    assert third != first and third.startswith("apify_api_")
