"""Another user's latency while one user sends hostile requests (issue 14), beside the same user's
latency with nothing else going on (the baseline, measured in the same run).

    .venv/bin/python -m bench.hardening [--seconds 6] [--redis URL] [--database URL]

One API process (no workers). The other user sends `GET /v2/datasets/:id` back to back from one
client; meanwhile, in each phase, the attacker keeps sending one kind of bomb (four at once):
- a 1.6 KB brotli body that inflates to 1 GiB (rejected: 413 at the 9 MiB limit);
- a valid 3 MB body of 1,000,000 empty items (rejected: 400 at max_push_items);
- a push of 100,000 empty items (accepted and inserted);
- JSON nested 100,000 deep (rejected: 400 at max_json_depth);
- 200 connections that never finish their headers (closed at header_timeout_s).
Printed, never asserted: the other user's p50, p99 and max per phase, each bomb's answer and how long
it took, and the API's peak resident memory in the phase.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import brotli
import httpx

if __package__ in (None, ""):  # run as a script: bench/ beside server/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    api_client,
    greenroom_settings,
    nearest_rank,
    new_user_token,
    setup,
    software,
    start_api,
)

ATTACKERS = 4
SLOW_CONNECTIONS = 200
JSON = {"Content-Type": "application/json"}


def _bodies() -> dict[str, tuple[bytes, dict[str, str]]]:
    bomb = brotli.compress(b"[" + b" " * (1024**3 - 2) + b"]", quality=5)
    million = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    allowed = b"[" + b",".join([b"{}"] * 100_000) + b"]"
    deep = b"[" * 100_000 + b"]" * 100_000
    return {
        f"brotli bomb ({len(bomb)} B -> 1 GiB)": (bomb, {**JSON, "Content-Encoding": "br"}),
        f"1,000,000 empty items ({len(million) / 1e6:.1f} MB)": (million, JSON),
        f"100,000 empty items, accepted ({len(allowed) / 1e6:.1f} MB)": (allowed, JSON),
        "JSON nested 100,000 deep": (deep, JSON),
    }


class Memory:
    """The API process's peak resident memory while it runs (sampled every 20 ms from /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self._rss_kb())
            time.sleep(0.02)

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _victim(client: httpx.Client, path: str, seconds: float) -> list[float]:
    timings: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        client.get(path).raise_for_status()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def _flood(
    send: Callable[[], tuple[int, float]], stop: threading.Event, answers: list[tuple[int, float]]
) -> None:
    while not stop.is_set():
        answers.append(send())


def _slow_connections(host: str, port: int, stop: threading.Event, answers: list[tuple[int, float]]) -> None:
    """Connections that send half a header and then nothing; each is reopened once the server closes it."""
    socks: list[tuple[socket.socket, float]] = []
    try:
        while not stop.is_set():
            while len(socks) < SLOW_CONNECTIONS:
                sock = socket.create_connection((host, port))
                sock.sendall(b"GET /v2/users/me HTTP/1.1\r\nHost: x\r\n")
                sock.setblocking(False)
                socks.append((sock, time.perf_counter()))
            alive = []
            for sock, opened in socks:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    alive.append((sock, opened))
                    continue
                except OSError:
                    data = b""
                status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
                answers.append((status, (time.perf_counter() - opened) * 1000))
                sock.close()
            socks = alive
            time.sleep(0.05)
    finally:
        for sock, _ in socks:
            sock.close()


def _phase(
    api_pid: int, victim: Callable[[float], list[float]], seconds: float, floods: list[Callable[..., None]]
) -> tuple[list[float], list[tuple[int, float]], int]:
    stop = threading.Event()
    answers: list[tuple[int, float]] = []
    threads = [threading.Thread(target=flood, args=(stop, answers), daemon=True) for flood in floods]
    with Memory(api_pid) as memory:
        for thread in threads:
            thread.start()
        time.sleep(0.5 if threads else 0)  # the bombs are under way
        timings = victim(seconds)
        stop.set()
        for thread in threads:
            thread.join()
    return timings, answers, memory.peak_kb


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="the other user's requests per phase, in s"
    )
    parser.add_argument("--redis", help="a Redis URL (default: the local one, else a private redis-server)")
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    bodies = _bodies()
    with setup(args.redis, args.database) as bench:
        settings = greenroom_settings(bench)
        api = start_api(bench, settings)
        other = new_user_token(bench.database_url, f"{bench.tag}-other")
        with api_client(settings.api_base_url, other, timeout=60) as client:
            dataset = client.post("/datasets", params={"name": "mine"}).json()["data"]["id"]
            client.get(f"/datasets/{dataset}").raise_for_status()  # warm
        with api_client(settings.api_base_url, bench.token, timeout=120) as attacker:
            target = attacker.post("/datasets", params={"name": "target"}).json()["data"]["id"]
        print(f"{bench.database_description}; {software()}; API pid {api.pid}")
        print(f"the other user: GET /v2/datasets/:id back to back, {args.seconds:g} s per phase")

        def victim(seconds: float) -> list[float]:
            with api_client(settings.api_base_url, other, timeout=120) as client:
                return _victim(client, f"/datasets/{dataset}", seconds)

        def sender(body: bytes, headers: dict[str, str]) -> Callable[..., None]:
            def send() -> tuple[int, float]:
                with api_client(settings.api_base_url, bench.token, timeout=120) as client:
                    began = time.perf_counter()
                    status = client.post(
                        f"/datasets/{target}/items", content=body, headers=headers
                    ).status_code
                    return status, (time.perf_counter() - began) * 1000

            return lambda stop, answers: _flood(send, stop, answers)

        phases: list[tuple[str, list[Callable[..., None]]]] = [("baseline (nothing else)", [])]
        phases += [(f"{name} x{ATTACKERS}", [sender(*sent)] * ATTACKERS) for name, sent in bodies.items()]
        slow = f"{SLOW_CONNECTIONS} connections that never finish their headers"
        phases.append(
            (slow, [lambda stop, answers: _slow_connections(settings.host, settings.port, stop, answers)])
        )
        for name, floods in phases:
            timings, answers, peak_kb = _phase(api.pid, victim, args.seconds, floods)
            p50, p99 = nearest_rank(timings, 50), nearest_rank(timings, 99)
            line = (
                f"{name}: other user p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(timings):.1f} ms"
                f" ({len(timings)} requests); API peak RSS {peak_kb / 1024:.0f} MB"
            )
            if answers:
                statuses = sorted({status for status, _ in answers})
                took = [ms for _, ms in answers]
                line += (
                    f"; bombs: {len(answers)} answered {statuses}, each in"
                    f" p50 {nearest_rank(took, 50):.0f} ms, max {max(took):.0f} ms"
                )
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
