"""Slow clients (slowloris, issue 14): raw sockets against a real uvicorn. A connection that never
finishes its headers, or whose body stops coming, is answered 408 and closed, not held forever."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from server.settings import Settings
from tests.conftest import Account
from tests.stack import free_port, running

DEADLINE_S = 1.0
# Far above the deadline: only a connection that is never closed runs into it.
SOCKET_TIMEOUT_S = 15.0


@pytest.fixture
def slow_guarded(settings: Settings) -> Iterator[Settings]:
    """An API process of its own (no workers) with short read deadlines."""
    own = replace(settings, port=free_port(), header_timeout_s=DEADLINE_S, body_timeout_s=DEADLINE_S)
    with running(own, workers=0):
        yield own


def _connect(settings: Settings) -> socket.socket:
    sock = socket.create_connection((settings.host, settings.port), timeout=SOCKET_TIMEOUT_S)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (a socket timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (by its Content-Length) from a connection that stays open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _status_and_body(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_connection_that_sends_nothing_is_closed(slow_guarded: Settings) -> None:
    with _connect(slow_guarded) as sock:
        status, body = _status_and_body(_read_all(sock))
    assert status == 408
    assert json.loads(body)["error"]["type"] == "operation-timed-out"


def test_headers_dripped_past_the_deadline_are_cut_off(slow_guarded: Settings) -> None:
    """A header line every 0.2 s keeps the connection busy but never finishes: the deadline is on the
    whole header, not on idleness."""
    with _connect(slow_guarded) as sock:
        sock.sendall(b"GET /v2/users/me HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for i in range(int(10 * DEADLINE_S / 0.2)):
            try:
                sock.sendall(f"X-Drip-{i}: y\r\n".encode())
            except OSError:  # reset by the server: closed
                closed = True
                break
            time.sleep(0.2)
        if not closed:
            raw = _read_all(sock)
            assert raw == b"" or _status_and_body(raw)[0] == 408


def test_the_next_request_on_a_kept_alive_connection_has_its_own_deadline(
    slow_guarded: Settings, account: Account
) -> None:
    with _connect(slow_guarded) as sock:
        sock.sendall(
            b"GET /v2/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + account.token.encode()
            + b"\r\n\r\n"
        )
        first = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        time.sleep(DEADLINE_S * 1.5)  # longer than the header deadline, shorter than keep-alive (5 s)
        sock.sendall(b"GET /v2/users/me HTTP/1.1\r\n")
        status, _ = _status_and_body(_read_all(sock))
    assert status == 408


def test_a_body_that_stops_coming_is_408_in_the_envelope(slow_guarded: Settings, account: Account) -> None:
    with _connect(slow_guarded) as sock:
        sock.sendall(
            b"POST /v2/acts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + account.token.encode() + b'\r\nContent-Length: 100\r\n\r\n{"a": '
        )
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < 10:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    status, body = _status_and_body(raw)
    assert status == 408, raw[:300]
    assert json.loads(body[: body.rindex(b"}") + 1])["error"]["type"] == "operation-timed-out"


def test_a_prompt_client_is_served_meanwhile(slow_guarded: Settings, account: Account) -> None:
    """Held slow connections do not keep a prompt one out."""
    idle = [_connect(slow_guarded) for _ in range(50)]
    try:
        with _connect(slow_guarded) as sock:
            sock.sendall(
                b"GET /v2/users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                + account.token.encode()
                + b"\r\n\r\n"
            )
            assert _read_all(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in idle:
            sock.close()
