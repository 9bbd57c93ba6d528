"""Webhook tests' tools: a real HTTP receiver (a threading HTTP server on loopback that records
every request and answers with scripted statuses, so it can fail its first calls, or holds one), a
Greenroom of their own (loopback allowed, short retries), and small helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from server.settings import Settings
from tests.stack import Stack, running

DELAYS_S = (0.3, 0.6)
TERMINAL = {"SUCCEEDED", "FAILED"}


@contextmanager
def webhook_stack(settings: Settings) -> Iterator[Stack]:
    """A Greenroom on `settings` (a database of its own: tests.conftest.isolated_database): loopback
    receivers allowed, retries after 0.3 s and
    0.6 s, a 2 s call timeout, a sweeper every 0.2 s, a 3 s run lease, one webhook worker."""
    own = replace(
        settings,
        webhook_allow_private=True,
        webhook_retry_delays_s=DELAYS_S,
        webhook_timeout_s=2.0,
        sweep_interval_s=0.2,
        run_lease_s=3.0,
        webhook_worker_processes=1,
    )
    with running(own, workers=2) as stack:
        yield stack


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def dispatch_when_done(api: httpx.Client, dispatch_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        dispatch = api.get(f"/webhook-dispatches/{dispatch_id}").json()["data"]
        if dispatch["status"] in TERMINAL:
            return dict(dispatch)
        assert time.monotonic() < deadline, dispatch
        time.sleep(0.05)


def verify(secret: str, header: str, body: bytes, tolerance_s: float = 300) -> bool:
    """What a receiver does (README, Webhooks): recompute the HMAC and compare in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, signature = parts["t"], parts["v1"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def dispatch_id(self) -> str:
        return self.headers["x-apify-webhook-dispatch-id"]


@dataclass
class Receiver:
    """statuses: the answers to the first calls, in order; 200 after them. hold: the first call is
    held (not answered) until `release` is set."""

    statuses: list[int] = field(default_factory=list)
    hold: bool = False
    requests: list[Received] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    tls: bool = False

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, request: Received) -> tuple[int, bool]:
        with self._lock:
            self.requests.append(request)
            index = len(self.requests) - 1
        status = self.statuses[index] if index < len(self.statuses) else 200
        return status, self.hold and index == 0

    def wait_for(self, count: int, timeout_s: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} calls came: {self.requests}"
            time.sleep(0.02)
        return list(self.requests)

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, hold = receiver._answer(Received(self.path, headers, body, time.monotonic()))
            if hold:
                receiver.held.set()
                receiver.release.wait(60)
            answer = json.dumps({"status": status}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:  # the caller went away (a killed worker)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate (and its key) that no client trusts, for 127.0.0.1 (openssl's command)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def receiving(
    statuses: list[int] | None = None, *, hold: bool = False, tls: tuple[Path, Path] | None = None
) -> Iterator[Receiver]:
    """tls: (certificate, key) to answer HTTPS with."""
    receiver = Receiver(statuses=list(statuses or []), hold=hold, tls=tls is not None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    receiver._server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
