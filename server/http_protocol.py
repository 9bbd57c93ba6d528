"""uvicorn's httptools protocol (the one uvicorn[standard] picks) with a smaller connection.

uvicorn keeps, for every connection, a deque for pipelined requests and two asyncio.Events (the
request's body has come; the socket is writable again), each with a deque of its own: 760 bytes
apiece (bench/held_memory.py), a tenth of what a held run-sync kept. This protocol swaps them for a
list and two Wakes (server/wake.py) as each is made. It relies on uvicorn's attribute names, which
is why uvicorn's version is pinned; tests/test_http_protocol.py fails if they change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from server.wake import Wake


class _Pipeline(list[tuple[RequestResponseCycle, Any]]):
    """The pipelined requests' queue: a deque's appendleft and pop (oldest first), as a list."""

    __slots__ = ()

    def appendleft(self, item: tuple[RequestResponseCycle, Any]) -> None:
        self.insert(0, item)


class LeanHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = _Pipeline()  # type: ignore[assignment]  # used as the deque it replaces

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        writable = Wake()
        writable.set()  # as FlowControl sets its event
        self.flow._is_writable_event = writable  # type: ignore[assignment]

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:  # a new request's cycle, not started yet: nothing waits on it
            self.cycle.message_event = Wake()  # type: ignore[assignment]
