"""Request bodies: size-limited reads, Content-Encoding decoding, JSON parsing."""

from __future__ import annotations

import json
import zlib
from typing import Any, Protocol

import brotli
from starlette.requests import Request

from server.errors import InvalidRequest, RequestTooLarge, UnsupportedEncoding

ENCODINGS = ("identity", "gzip", "deflate", "br")
# Stored with records and run inputs (a VARCHAR(255) column).
MAX_CONTENT_TYPE_CHARS = 255


class _Decoder(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...


class _Zlib:
    def __init__(self, wbits: int):
        self._d = zlib.decompressobj(wbits)

    def feed(self, chunk: bytes) -> bytes:
        return self._d.decompress(chunk)


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, chunk: bytes) -> bytes:
        return bytes(self._d.process(chunk))


class _Identity:
    def feed(self, chunk: bytes) -> bytes:
        return chunk


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


def _decoder(encoding: str | None) -> _Decoder:
    if encoding == "gzip":
        return _Zlib(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if encoding == "br":
        return _Brotli()
    return _Identity()


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
    """The body decoded from its Content-Encoding; the limit applies to the decoded size."""
    encoding = content_encoding(request)
    raw = await read_raw(request, limit)
    if encoding in (None, "identity"):
        return raw
    decoder = _decoder(encoding)
    out = bytearray()
    try:
        for start in range(0, len(raw), 65536):
            out += decoder.feed(raw[start : start + 65536])
            if len(out) > limit:
                raise RequestTooLarge(limit)
    except (zlib.error, brotli.error) as exc:
        raise InvalidRequest(f"The request body is not valid {encoding} data.") from exc
    return bytes(out)


def parse_json(body: bytes) -> Any:
    """JSON from a body; an empty body is None (clients send no body for "no input")."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc


async def read_json(request: Request, limit: int) -> Any:
    return parse_json(await read_decoded(request, limit))


async def read_json_object(request: Request, limit: int, *, required: bool = True) -> dict[str, Any]:
    value = await read_json(request, limit)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("POST data must be a JSON object")
    return value
