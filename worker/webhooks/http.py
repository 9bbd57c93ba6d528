"""One webhook call: an HTTP POST to a checked address, within a deadline, never raising.

http.client rather than a richer client: the connection must be made to an address this module
resolved and checked (server/webhooks/targets.py), which http.client lets us do by replacing how
it opens its socket. Redirects are not followed (a redirect could lead anywhere); a 3xx is a
failed call. The response body is read only as far as the excerpt kept on the dispatch.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.storage.ids import iso, utcnow
from server.webhooks.targets import TargetRefused, parse_url, resolve

# Kept of each response body (Apify keeps an excerpt as `responseBody`).
RESPONSE_EXCERPT_BYTES = 2048


@dataclass(frozen=True)
class Call:
    """One call as the dispatch records it. refused: the target may not be called (no retries)."""

    started_at: datetime
    finished_at: datetime
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300

    def as_json(self) -> dict[str, Any]:
        return {
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "errorMessage": self.error_message,
            "responseStatus": self.response_status,
            "responseBody": self.response_body,
        }


def _open(host: str, port: int, timeout: float | None, allow_private: bool) -> socket.socket:
    """A socket connected to one of the host's addresses, every one of them checked first."""
    error: OSError | None = None
    for family, sockaddr in resolve(host, port, allow_private):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"Cannot connect to {host}")


class _Guarded(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, timeout: float, allow_private: bool):
        super().__init__(host, port, timeout=timeout)
        self._allow_private = allow_private

    def connect(self) -> None:
        self.sock = _open(self.host, self.port, self.timeout, self._allow_private)


class _GuardedTLS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, timeout: float, allow_private: bool, tls: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=tls)
        self._allow_private = allow_private
        self._tls = tls

    def connect(self) -> None:
        sock = _open(self.host, self.port, self.timeout, self._allow_private)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@functools.cache
def _tls(verify: bool) -> ssl.SSLContext:
    """Made once per process, when first needed (loading the CA store takes milliseconds)."""
    context = ssl.create_default_context()
    if not verify:  # ignoreSslErrors
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _excerpt(data: bytes) -> str:
    # NUL cannot be stored in a PostgreSQL text value.
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    ignore_ssl_errors: bool = False,
    allow_private: bool = False,
) -> Call:
    """POST body to url. The whole call (connecting, sending, the response) ends by timeout_s."""
    started = utcnow()
    try:
        parts = parse_url(url)
    except TargetRefused as exc:
        return Call(started, utcnow(), error_message=f"The request URL {exc}.", refused=True)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        tls = _tls(not ignore_ssl_errors)
        connection = _GuardedTLS(host, parts.port or 443, timeout_s, allow_private, tls)
    else:
        connection = _Guarded(host, parts.port or 80, timeout_s, allow_private)
    expired = threading.Event()

    def stop() -> None:  # the deadline: whatever the call is waiting on fails at once
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    deadline = threading.Timer(timeout_s, stop)
    deadline.daemon = True
    deadline.start()
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        excerpt = _excerpt(response.read(RESPONSE_EXCERPT_BYTES))
        status = response.status
    except TargetRefused as exc:
        return Call(started, utcnow(), error_message=f"The request URL's host {exc}.", refused=True)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            message = f"The request timed out after {timeout_s:g} seconds."
        else:
            message = f"Cannot send the request: {exc.__class__.__name__}: {exc}"
        return Call(started, utcnow(), error_message=message)
    finally:
        deadline.cancel()
        connection.close()
    error = None if 200 <= status < 300 else f"The response status was {status}, not 2xx."
    return Call(started, utcnow(), response_status=status, response_body=excerpt, error_message=error)
