"""POST /v2/tools/encode-and-sign and decode-and-verify: any JSON value, encoded with the id of
the user who encoded it and signed with a key only this Greenroom holds (pure: the key is passed in).

The format is Apify's (`@apify/utilities` CodeHashManager), so a value encoded here reads the same
way: `{meta}.{data}.{signature}`, each part base64url without padding, where meta is the JSON
`{"u": userId, "v": 1}`, data the value's JSON, and signature the raw HMAC-SHA256 of
`{meta}.{data}`.

The key is derived from GREENROOM_SECRETS_KEY (HMAC of a fixed label), so every API process of a
deployment signs and verifies alike and no new secret needs to be configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

VERSION = 1
_LABEL = b"greenroom/tools/encode-and-sign"


class NotEncoded(ValueError):
    """Not a value encoded as above (cannot be split or decoded)."""


class BadSignature(ValueError):
    """Well formed, but not signed with this deployment's key (or changed since)."""


@dataclass(frozen=True)
class Decoded:
    value: Any
    user_id: str | None


def signing_key(secrets_key: bytes) -> bytes:
    return hmac.new(secrets_key, _LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode(value: Any, user_id: str, key: bytes) -> str:
    signed = f"{_b64(_json({'u': user_id, 'v': VERSION}))}.{_b64(_json(value))}"
    signature = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}"


def decode(encoded: str, key: bytes) -> Decoded:
    parts = encoded.split(".")
    if len(parts) != 3 or not encoded.isascii():
        raise NotEncoded("The value is not an encoded object.")
    try:
        meta = json.loads(_unb64(parts[0]))
        value = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    # JSONDecodeError and UnicodeError are ValueErrors; RecursionError is deep nesting.
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise NotEncoded("The value is not an encoded object.") from exc
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise BadSignature("The signature of the encoded value is not valid.")
    user_id = meta.get("u") if isinstance(meta, dict) else None
    return Decoded(value, user_id if isinstance(user_id, str) else None)
