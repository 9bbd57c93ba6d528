"""server/http_protocol.py: the API's connections use a list and Wakes where uvicorn has a deque and
asyncio.Events, and still read a body that comes in pieces, answer pipelined requests in order, and
wait for a slow reader (flow control). A real uvicorn on loopback, raw sockets for clients."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from server.http_limits import guarded_http
from server.wake import Wake

_CHUNK = 64 * 1024


def test_a_connection_reads_pieces_answers_pipelined_requests_in_order_and_waits_for_a_slow_reader() -> None:
    asyncio.run(_scenario())


async def _scenario() -> None:
    seen: list[tuple[str, str, str]] = []
    paused: list[bool] = []
    big = b"x" * (8 * 1024 * 1024)  # far over the socket's buffers: uvicorn must pause and wait

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        (protocol,) = server.server_state.connections
        seen.append(
            (
                type(protocol.pipeline).__name__,
                type(protocol.flow._is_writable_event).__name__,
                type(protocol.cycle.message_event).__name__,
            )
        )
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = big if scope["path"] == "/big" else scope["path"].encode() + b":" + body
        headers = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for at in range(0, len(answer), _CHUNK):
            paused.append(protocol.flow.write_paused)  # the send below waits until it is writable
            await send({"type": "http.response.body", "body": answer[at : at + _CHUNK], "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=guarded_http(10), lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A body in two pieces, apart: the request waits for its second piece.
        writer.write(b"POST /pieces HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"def")
        # Two requests in one write: the second waits in the pipeline for the first.
        writer.write(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\nGET /two HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        answers = [await asyncio.wait_for(_answer(reader), 30) for _ in range(3)]
        assert answers == [b"/pieces:abcdef", b"/one:", b"/two:"]
        # A large answer to a client that reads slowly: the writer pauses until it is writable.
        writer.write(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.3)
        assert await asyncio.wait_for(_answer(reader), 30) == big
        assert any(paused)
        writer.close()
    finally:
        server.should_exit = True
        await serving
    assert seen and set(seen) == {("_Pipeline", Wake.__name__, Wake.__name__)}


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)
