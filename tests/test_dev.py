"""`greenroom dev` (what `make run` starts): embedded Redis + SQLite + workers + API, and a clean stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import httpx

from tests.actors import callable_actor
from tests.procs import alive
from tests.stack import ROOT, free_port
from worker.forked import pool_children


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


def _dev(tmp_path: Path, port: int, proxy_port: int) -> subprocess.Popen[str]:
    """`greenroom dev` in tmp_path, none of this machine's GREENROOM_* settings, its stdout piped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENROOM_")}
    env |= {
        "GREENROOM_PROXY_PORT": str(proxy_port),
        "GREENROOM_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
        "GREENROOM_CALLABLE_MODULES": "tests.actors",
    }
    argv = [sys.executable, "-m", "server.cli", "dev", "--port", str(port)]
    return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str], started: set[int]) -> None:
    """Ctrl-C to `greenroom dev`; then every process it had started must be gone within 10 s."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in started if alive(p)], "greenroom dev left processes behind"


def test_dev_starts_everything_serves_run_sync_and_stops_cleanly(tmp_path: Path) -> None:
    port, proxy_port = free_port(), free_port()
    proc = _dev(tmp_path, port, proxy_port)
    started: set[int] = set()  # a failure before they are read still stops dev (it was left running)
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
        (proxy,) = pool_children(proc.pid, "proxy")
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
        _stop(proc, started)
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


def _lines(stream: IO[str]) -> queue.Queue[str]:
    """dev's output, a line at a time, read in a thread (so a test can wait for a line with a deadline)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def _until_line(lines: queue.Queue[str], start: str, within_s: float) -> str:
    deadline = time.monotonic() + within_s
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"greenroom dev never said {start!r}") from None
        if line.startswith(start):
            return line


def _child(dev_pid: int, *argv: bytes) -> int:
    """dev's child process whose command line has `argv` (`server.cli worker`, `server.cli serve`)."""
    (pid,) = [p for p in _descendants(dev_pid) if b"\0".join(argv) in _cmdline(p) and alive(p)]
    return pid


def test_dev_restarts_a_killed_pool_and_api_and_the_lost_run_is_answered_failed(tmp_path: Path) -> None:
    """Seen: the pool's process group SIGKILLed under `greenroom dev` left its run RUNNING for good, its
    run-sync waited out its 300 s, and nothing started the pool again. Now an API process's sweeper
    fails the run (default leases), dev starts the pool again and says so, and the next run succeeds;
    a killed API is started again too."""
    port = free_port()
    proc = _dev(tmp_path, port, free_port())
    base = f"http://127.0.0.1:{port}/v2"
    try:
        assert proc.stdout is not None
        lines = _lines(proc.stdout)
        token = _until_line(lines, "API token", 60).rsplit(" ", 1)[1]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as api, ThreadPoolExecutor(1) as pool:
            actor = api.post("/acts", json=callable_actor("doomed", "pids_then_sleep")).json()["data"]
            held = pool.submit(api.post, f"/acts/{actor['id']}/run-sync", json={"seconds": 120})
            deadline = time.monotonic() + 60
            while not (runs := api.get(f"/acts/{actor['id']}/runs").json()["data"]["items"]) or (
                api.get(f"/key-value-stores/{runs[0]['defaultKeyValueStoreId']}/records/PIDS").status_code
                != 200
            ):
                assert time.monotonic() < deadline, "the run never started"
                time.sleep(0.1)
            workers = _child(proc.pid, b"server.cli", b"worker")
            os.killpg(workers, signal.SIGKILL)
            killed = time.monotonic()
            answer = held.result(timeout=20)
            answered_s = time.monotonic() - killed
            print(f"greenroom dev: pool SIGKILL to the run-sync's FAILED answer: {answered_s:.2f} s")
            assert answer.status_code == 400 and answer.json()["error"]["type"] == "run-failed", answer.text
            assert answered_s < 15, answered_s
            said = _until_line(lines, "greenroom dev: the worker pool", 10)
            assert said == (
                f"greenroom dev: the worker pool (pid {workers}) stopped (killed by SIGKILL); "
                "starting it again in 1 s"
            )
            assert _until_line(lines, "greenroom dev: the worker pool is started again", 10)
            echo = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]
            after = api.post(f"/acts/{echo['id']}/run-sync", json={"n": 1})
            assert after.status_code == 201 and after.json() == {"input": {"n": 1}}

            server = _child(proc.pid, b"server.cli", b"serve")
            os.kill(server, signal.SIGKILL)
            said = _until_line(lines, "greenroom dev: the API", 10)
            assert said == (
                f"greenroom dev: the API (pid {server}) stopped (killed by SIGKILL); starting it again in 1 s"
            )
            _until_line(lines, "greenroom dev: the API is started again", 10)
            deadline = time.monotonic() + 30
            while True:
                try:
                    again = api.post(f"/acts/{echo['id']}/run-sync", json={"n": 2})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the API did not come back"
                    time.sleep(0.1)
            assert again.status_code == 201 and again.json() == {"input": {"n": 2}}
        started = _descendants(proc.pid)
    finally:
        _stop(proc, started)
    assert proc.returncode == 0
