"""A real Greenroom for tests: uvicorn and worker processes on the session's Redis and database."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis import Redis
from rq import Worker

from server.queue import make_queue
from server.settings import Settings
from worker import context as worker_context
from worker.forked import descendants

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

    def client(self, token: str, timeout: float = 60) -> httpx.Client:
        """A client of this Greenroom's API v2 as the user of `token`."""
        return httpx.Client(
            base_url=f"{self.url}/v2", headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def start_api(self, settings: Settings | None = None) -> str:
        """Start an API process (optionally with other settings on the same services); returns its URL."""
        settings = settings or self.settings
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"], env=child_env(settings), cwd=ROOT
        )
        self.processes.append(proc)
        wait_until_serving(settings.api_base_url, proc)
        return settings.api_base_url

    def start_workers(self, processes: int = 2, own_group: bool = False) -> subprocess.Popen[bytes]:
        """A worker pool; `own_group`: leading a process group of its own (with its workers and its
        proxy), which a test may kill whole without killing itself."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker", "--processes", str(processes)],
            env=child_env(self.settings),
            cwd=ROOT,
            process_group=0 if own_group else None,
        )
        self.processes.append(proc)
        return proc

    def wait_for_workers(self, count: int, timeout_s: float = 90) -> None:
        """Until `count` workers listen on the queue: a worker takes seconds to start on a loaded
        machine, and runs meant to go at once would otherwise go one after the other."""
        deadline = time.monotonic() + timeout_s
        with Redis.from_url(self.settings.redis_url) as connection:
            queue = make_queue(connection, self.settings.queue_name)
            while Worker.count(connection=connection, queue=queue) < count:
                assert time.monotonic() < deadline, f"{count} workers did not listen within {timeout_s:g} s"
                time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def exit_code(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """proc's exit code once it exits within timeout_s; else fails with what is still running under
    it and where each process waits (its Python stack), so that a stop that hangs in a CI run says
    where it hung."""
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{proc.args} did not exit within {timeout_s:g} s:\n"
            + where_they_wait([proc.pid, *descendants(proc.pid)])
        ) from None


def where_they_wait(pids: list[int]) -> str:
    """Each live process of `pids`: its name, state, kernel wait channel, and Python stack (py-spy)."""
    report = []
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            wchan = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            continue  # gone meanwhile
        report.append(f"--- {pid} {name} state {state} in {wchan or '-'}")
        if py_spy := shutil.which("py-spy", path=str(Path(sys.executable).parent)):
            dump = subprocess.run(
                [py_spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
            )
            report.append(dump.stdout or dump.stderr.partition("\n")[0])
    return "\n".join(report)


@contextmanager
def running(settings: Settings, workers: int = 2) -> Iterator[Stack]:
    """A Greenroom on `settings`: a pool of `workers` worker processes (none for 0), then the API;
    all stopped at the end."""
    stack = Stack(settings)
    try:
        if workers > 0:
            pool = stack.start_workers(workers)
        stack.start_api()
        if workers > 0 and settings.proxy_port:
            wait_until_listening(settings.proxy_port, pool)  # the pool's proxy (worker/proxy/)
        yield stack
    finally:
        stack.stop()


@contextmanager
def as_worker(settings: Settings, restore: Settings) -> Iterator[Settings]:
    """This process as a worker on `settings` meanwhile (on `restore` again after)."""
    worker_context.configure(settings)
    try:
        yield settings
    finally:
        worker_context.dispose_context()
        worker_context.configure(restore)


@contextmanager
def worker_here(settings: Settings, token: str, restore: Settings) -> Iterator[httpx.Client]:
    """An API process on `settings` and no worker process: the test runs the jobs itself, in this
    process, which is a worker on `settings` meanwhile. The API is not in this process: a callable
    forked here must not copy the API's SQLite threads' locks."""
    with running(settings, workers=0) as stack, as_worker(settings, restore), stack.client(token) as client:
        yield client


def wait_until_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker pool exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


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
