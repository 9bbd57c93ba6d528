"""HTTP/1.1 message heads, as far as a forwarding proxy needs them (bodies are only relayed)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 64 * 1024
# Hop-by-hop headers: about this connection, never passed on (RFC 9110 7.6.1, and the proxy's own).
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    )
)


class BadMessage(ValueError):
    """Raised when a message head is not HTTP/1.x."""


@dataclass
class Head:
    """A request line (method, target, version) or a status line (version, status, reason)."""

    start: tuple[str, str, str]
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def end_to_end(self) -> list[tuple[str, str]]:
        """The headers without hop-by-hop ones, nor those the Connection header names."""
        named = {n.strip().lower() for n in (self.get("connection") or "").split(",")}
        return [(k, v) for k, v in self.headers if k.lower() not in HOP_BY_HOP and k.lower() not in named]

    def encode(self) -> bytes:
        lines = [" ".join(self.start), *(f"{key}: {value}" for key, value in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next head; None at a clean end of stream. The reader's limit bounds its size."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadMessage("the message head ended early") from None
    except asyncio.LimitOverrunError:
        raise BadMessage(f"the message head is larger than {MAX_HEAD_BYTES} bytes") from None
    lines = raw.decode("latin-1").split("\r\n")
    if any(c in line for line in lines for c in "\r\n\0"):  # a lone CR or LF could smuggle a header
        raise BadMessage("a bare CR, LF or NUL in the message head")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not (parts[0].startswith("HTTP/1.") or parts[-1].startswith("HTTP/1.")):
        raise BadMessage(f"not an HTTP/1.x message: {lines[0][:100]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            raise BadMessage(f"a bad header line: {line[:100]!r}")
        headers.append((key, value.strip()))
    return Head((parts[0], parts[1], parts[2] if len(parts) > 2 else ""), headers)


def response(status: int, reason: str, body: str = "", headers: list[tuple[str, str]] | None = None) -> bytes:
    """A whole response from the proxy itself; the connection closes after it."""
    data = body.encode()
    all_headers = [
        *(headers or []),
        ("Content-Length", str(len(data))),
        ("Connection", "close"),
    ]
    if body and not any(k.lower() == "content-type" for k, _ in all_headers):
        all_headers.append(("Content-Type", "text/plain; charset=utf-8"))
    return Head(("HTTP/1.1", str(status), reason), all_headers).encode() + data
