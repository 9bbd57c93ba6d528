"""Apify-style ids (17 alphanumerics), tokens, and ISO timestamps."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from datetime import UTC, datetime

_ALPHABET = string.ascii_letters + string.digits
ID_RE = re.compile(r"^[a-zA-Z0-9]{17}$")


_UNBIASED = 4 * len(_ALPHABET)  # a byte from 248 up would favour the alphabet's first 8 characters


def _alphanumerics(count: int) -> str:
    """`count` characters drawn uniformly from the alphabet, from one read of the OS's random bytes
    (`secrets.choice` reads them once per character, a system call each: 2% of the API's samples
    under bench/hold.py's starts were in new_id)."""
    chars: list[str] = []
    while len(chars) < count:
        chars += [
            _ALPHABET[byte % len(_ALPHABET)] for byte in secrets.token_bytes(count + 8) if byte < _UNBIASED
        ]
    return "".join(chars[:count])


def new_id() -> str:
    return _alphanumerics(17)


def new_token() -> str:
    return "apify_api_" + _alphanumerics(36)


def hash_token(token: str) -> str:
    # Tokens are long random strings, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime) -> datetime:
    """A stored time in UTC: SQLite hands back naive datetimes; we only ever store UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and Z, as Apify and the clients' models expect."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    # isoformat truncates to milliseconds, as Apify shows them; a quarter of strftime's time.
    return dt.isoformat(timespec="milliseconds") + "Z"
