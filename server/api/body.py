"""Request bodies: size-limited reads, Content-Encoding decoding, JSON parsing."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread
import brotli
from anyio.lowlevel import RunVar
from starlette.requests import Request

from server import strict_json
from server.errors import InvalidRequest, RequestTooLarge, UnsupportedEncoding
from server.lifespan import state_of
from server.settings import Settings

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

ENCODINGS = ("identity", "gzip", "deflate", "br")
# Stored with records and run inputs (a VARCHAR(255) column).
MAX_CONTENT_TYPE_CHARS = 255


_HEAVY: RunVar[anyio.CapacityLimiter] = RunVar("greenroom_heavy_body_work")


async def off_loop(func: Callable[[*Ts], T], *args: *Ts) -> T:
    """`func(*args)` in a worker thread, one such call at a time per process (the others queue).

    For CPU-bound body work: decoding, parsing, shaping rows. Each thread doing it takes the GIL from
    the event loop at every hand-over for up to the switch interval (5 ms); four at once made every
    other request wait 100-400 ms (bench/hardening.py). One at a time, the wait stays near one
    interval, and a flood of large bodies queues behind itself rather than in front of everyone.
    """
    try:
        limiter = _HEAVY.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(1)
        _HEAVY.set(limiter)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


def content_encoding(request: Request) -> str | None:
    """The body's encoding, lower-cased, or None; 415 for one we cannot decode."""
    value = request.headers.get("content-encoding", "").strip().lower()
    if not value:
        return None
    if value not in ENCODINGS:
        raise UnsupportedEncoding(value)
    return value


def content_type(request: Request, default: str) -> str:
    """The body's Content-Type as it will be stored, or `default`; 400 for one too long to store."""
    value = request.headers.get("content-type") or default
    if len(value) > MAX_CONTENT_TYPE_CHARS:
        raise InvalidRequest(f"The Content-Type header must be at most {MAX_CONTENT_TYPE_CHARS} characters.")
    return value


async def read_raw(request: Request, limit: int) -> bytes:
    """The body as sent, or 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(limit, int(declared))
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


async def read_decoded(request: Request, limit: int) -> bytes:
    """The body decoded from its Content-Encoding; the limit applies to the decoded size.

    The output is bounded as it grows: a 1.6 KB brotli body inflating to 1 GiB took 4-6 s and 2.1 GB
    on the event loop before (issue 14), and every other request waited. A small body is decoded
    here while its output stays within HERE_BYTES; past that, or a larger body, in a worker thread.
    """
    encoding = content_encoding(request)
    raw = await read_raw(request, limit)
    if encoding in (None, "identity"):
        return raw
    out = _decoded_here(raw, encoding, limit)
    if out is None:
        return await off_loop(decode, raw, encoding, limit)
    if len(out) > limit:
        raise RequestTooLarge(limit)
    return bytes(out)


async def check_encoded(raw: bytes, encoding: str | None, limit: int) -> None:
    """400 unless `raw` is valid `encoding` data (up to `limit` bytes of output are decoded, then
    thrown away; a stream that ends within them must end whole): for bodies stored encoded, so that
    garbage is not served back with a Content-Encoding that no client can decode (schemathesis)."""
    if encoding in (None, "identity") or not raw:
        return
    if _decoded_here(raw, encoding, limit) is None:
        await off_loop(_decodes, raw, encoding, limit)


def _decoded_here(raw: bytes, encoding: str, limit: int) -> bytearray | None:
    """raw's output (up to limit + 1 bytes), decoded on the event loop when that is cheap: a body of
    at most HERE_BYTES whose output stays within HERE_BYTES (or within a smaller limit, which then
    has the last word). None: decode it in a worker thread."""
    if len(raw) > HERE_BYTES:
        return None
    bound = min(limit, HERE_BYTES)
    out = _decoded(raw, encoding, bound)
    return out if len(out) <= bound or limit <= HERE_BYTES else None


def _decodes(raw: bytes, encoding: str, limit: int) -> bool:
    """400 unless the output, up to limit bytes of it, decodes; whether it all fit in limit."""
    return len(_decoded(raw, encoding, limit)) <= limit


def decode(raw: bytes, encoding: str, limit: int) -> bytes:
    """`raw` decoded; 413 as soon as the output passes `limit`, before inflating any further."""
    out = _decoded(raw, encoding, limit)
    if len(out) > limit:
        raise RequestTooLarge(limit)
    return bytes(out)


def _decoded(raw: bytes, encoding: str, limit: int) -> bytearray:
    """Up to limit + 1 bytes of raw's output; 400 when raw is not `encoding` data, or when it stops
    before its stream's end (cut short: no error from the decoder, and a client could not read it)."""
    if not raw:
        return bytearray()
    try:
        if encoding == "br":
            out, ended = _unbrotli(raw, limit)
        else:
            out, ended = _inflate(raw, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS, limit)
    except (zlib.error, brotli.error) as exc:
        raise InvalidRequest(f"The request body is not valid {encoding} data.") from exc
    if len(out) <= limit and not ended:
        raise InvalidRequest(f"The request body is not valid {encoding} data: it stops before its end.")
    return out


def _inflate(raw: bytes, wbits: int, limit: int) -> tuple[bytearray, bool]:
    # max_length bounds each call's output; the input not yet used waits in unconsumed_tail.
    d = zlib.decompressobj(wbits)
    out = bytearray(d.decompress(raw, limit + 1))
    while d.unconsumed_tail and len(out) <= limit:
        out += d.decompress(d.unconsumed_tail, limit + 1 - len(out))
    return out, d.eof


def _unbrotli(raw: bytes, limit: int) -> tuple[bytearray, bool]:
    # brotli >= 1.1: output_buffer_limit bounds each call's output; the rest comes from further
    # calls with no input until the decompressor can accept more data.
    d = brotli.Decompressor()
    out = bytearray(d.process(raw, output_buffer_limit=limit + 1))
    while len(out) <= limit and not d.can_accept_more_data():
        out += d.process(b"", output_buffer_limit=limit + 1 - len(out))
    return out, d.is_finished()


# A body of at most this many bytes (decoded, if it was encoded) is decoded and parsed on the event
# loop; a larger one in a worker thread (off_loop), where the work shares the GIL with the loop instead
# of holding it. For a small body the hand-off to the thread cost more than the work.
HERE_BYTES = 64 * 1024


def parse_json(body: bytes, settings: Settings) -> Any:
    """JSON from a body; an empty body is None (clients send no body for "no input")."""
    if not body.strip():
        return None
    return strict_json.loads(body, settings)


async def parse_json_off_loop(body: bytes, settings: Settings) -> Any:
    """parse_json, in a worker thread for a large body."""
    return await here_or_off_loop(len(body), parse_json, body, settings)


async def here_or_off_loop(size: int, func: Callable[[*Ts], T], *args: *Ts) -> T:
    """func(*args) here for a body of at most HERE_BYTES, else in a worker thread (off_loop)."""
    return func(*args) if size <= HERE_BYTES else await off_loop(func, *args)


async def read_json(request: Request, limit: int) -> Any:
    return await parse_json_off_loop(await read_decoded(request, limit), state_of(request).settings)


async def read_json_object(request: Request, limit: int, *, required: bool = True) -> dict[str, Any]:
    value = await read_json(request, limit)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("POST data must be a JSON object")
    return value
