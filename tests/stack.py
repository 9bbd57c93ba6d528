"""A real Greenroom for tests: uvicorn and worker processes on the session's Redis and database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(settings: Settings) -> dict[str, str]:
    # The worker imports test actors (tests.actors), so the repository root is on its path.
    return {**os.environ, **settings.to_env(), "PYTHONPATH": str(ROOT)}


@dataclass
class Stack:
    settings: Settings
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.settings.api_base_url

    def start_api(self, settings: Settings | None = None) -> str:
        """Start an API process (optionally with other settings on the same services); returns its URL."""
        settings = settings or self.settings
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"], env=child_env(settings), cwd=ROOT
        )
        self.processes.append(proc)
        wait_until_serving(settings.api_base_url, proc)
        return settings.api_base_url

    def start_workers(self, processes: int = 2) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker", "--processes", str(processes)],
            env=child_env(self.settings),
            cwd=ROOT,
        )
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API process exited with {proc.returncode}")
        try:
            httpx.get(f"{url}/v2/users/me", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the API at {url} did not start")
