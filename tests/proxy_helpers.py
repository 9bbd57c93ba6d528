"""For the proxy's tests: a site on loopback, tiny upstream proxies that say who they are, requests
through a proxy (absolute-URI and CONNECT), and a proxy process of a test's own."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from server.settings import Settings
from tests.stack import ROOT, child_env, free_port

PAGE = b"hello through the proxy"


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites: the proxy must still end each exchange

    def do_GET(self) -> None:
        if self.path.startswith("/headers"):
            self._send(json.dumps(dict(self.headers.items())).encode(), "application/json")
        elif self.path.startswith("/big"):
            self._send(b"x" * int(self.path.partition("=")[2]), "application/octet-stream")
        else:
            self._send(PAGE, "text/plain")

    def do_POST(self) -> None:
        self._send(self.rfile.read(int(self.headers["Content-Length"])), "application/octet-stream")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving_site() -> Iterator[str]:
    """A site on loopback; yields its `host:port`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SiteHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FakeUpstream:
    """An upstream proxy that answers every request itself with its name, and records what it got."""

    name: str
    credentials: str  # user:pass it requires
    port: int = 0
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        user, _, secret = self.credentials.partition(":")
        return f"http://{quote(user)}:{quote(secret)}@127.0.0.1:{self.port}"


@contextmanager
def fake_upstream(name: str, credentials: str) -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(name, credentials)
    expected = "Basic " + base64.b64encode(credentials.encode()).decode()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line, headers = _read_head(self.rfile)
            auth = headers.get("proxy-authorization")
            upstream.seen.append((line, auth))
            if auth != expected:
                self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return
            if line.startswith("CONNECT"):
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _read_head(self.rfile)
            body = name.encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    upstream.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()


def _read_head(rfile: Any) -> tuple[str, dict[str, str]]:
    line = rfile.readline().decode().strip()
    headers = {}
    while (header := rfile.readline().decode().strip()) != "":
        key, _, value = header.partition(":")
        headers[key.strip().lower()] = value.strip()
    return line, headers


def proxy_client(port: int, username: str, password: str) -> httpx.Client:
    """Plain http:// URLs go through the proxy as absolute-URI requests."""
    return httpx.Client(proxy=f"http://{username}:{password}@127.0.0.1:{port}", timeout=20, trust_env=False)


def tunnel_get(port: int, username: str, password: str, host: str, path: str = "/") -> tuple[int, bytes]:
    """GET through a CONNECT tunnel: (status, body); the CONNECT's own status when it is refused."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    target_host, _, target_port = host.rpartition(":")
    connection.set_tunnel(target_host, int(target_port), headers={"Proxy-Authorization": f"Basic {auth}"})
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    except OSError as exc:  # "Tunnel connection failed: 407 ..."
        return int(str(exc).split(":")[1].split()[0]), b""
    finally:
        connection.close()


def hold_tunnel(port: int, password: str, host: str) -> tuple[socket.socket, bytes]:
    """A CONNECT tunnel left open: (its socket, the proxy's first answer line)."""
    auth = base64.b64encode(f"auto:{password}".encode()).decode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(f"CONNECT {host} HTTP/1.1\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
    return sock, sock.recv(4096).split(b"\r\n")[0]


@contextmanager
def own_proxy(settings: Settings, log_path: Path, **changes: Any) -> Iterator[Settings]:
    """A proxy process (`python -m worker.proxy`) on the session's database, with other settings."""
    own = replace(settings, proxy_port=free_port(), **changes)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.proxy"], env=child_env(own), cwd=ROOT, stderr=log
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", own.proxy_port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the proxy did not start: {log_path.read_text()}") from None
                time.sleep(0.05)
        yield own
    finally:
        process.terminate()
        process.wait(timeout=10)
