"""Deadlines on reading a request, so a client that sends slowly (slowloris) cannot hold a connection
and its memory forever (issue 14).

- Headers: uvicorn has a keep-alive timeout between requests but none while a request's headers
  arrive; a connection that opens and never finishes its headers was held for good. `guarded_http`
  is uvicorn's httptools protocol with a deadline from the connection's start (or the first byte of
  a kept-alive connection's next request) to the end of the headers: past it the connection gets a
  408 and is closed.
- Body: `BodyTimeout` is ASGI middleware that gives each receive of a body that is still coming
  `body_timeout_s`; past it the request is answered 408 `operation-timed-out` in Apify's envelope. Once
  the body is complete, receive is not timed: held run-sync requests wait on it for the disconnect.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.errors import RequestTimeout
from server.http_protocol import LeanHttpToolsProtocol

_HEADER_TIMEOUT_BODY = json.dumps(
    {"error": {"type": "operation-timed-out", "message": "The request's headers were not received in time."}}
).encode()
HEADER_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_HEADER_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _HEADER_TIMEOUT_BODY
)


def guarded_http(header_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol (server/http_protocol.py's, the smaller) with a header deadline."""

    class GuardedHttpToolsProtocol(LeanHttpToolsProtocol):
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_deadline()

        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            if self._header_deadline is None:
                self._header_deadline = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_too_slow(self) -> None:
            self._header_deadline = None
            if not self.transport.is_closing():
                self.transport.write(HEADER_TIMEOUT_RESPONSE)
                self.transport.close()

    return GuardedHttpToolsProtocol


class BodyTimeout:
    """ASGI middleware: each receive of a request body still coming gets `timeout_s`."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app, self.timeout_s = app, timeout_s

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine (it has nothing to do once the app is called): a held request keeps no
        frame of it."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        body_done = False
        timeout_s = self.timeout_s

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(timeout_s):  # asyncio's: anyio's scope cost more per request
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        return self.app(scope, timed_receive, send)
