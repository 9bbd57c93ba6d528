"""Apify's signed storage URLs: the signatures the official clients make with a storage's
`urlSigningSecretKey`, made and checked here the same way (pure: no I/O, the time is passed in).

Two kinds, as the clients and `@apify/utilities` make them:

- a storage signature (dataset items, key-value store keys and records archive):
  base64url of `{version}.{expiresAtMillis}.{hmac}`, where `hmac` signs
  `{version}.{expiresAtMillis}.{storageId}`; `expiresAtMillis` 0 never expires;
- a record signature (one key-value record, never expires): the `hmac` of the record's key.

`hmac` is HMAC-SHA256 under the secret key, its first 30 hex digits read as a number, in base62
(digits, then lower-case, then upper-case letters). The Python client pads its base64url with `=`,
the JS one does not: both are read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import string

_BASE62 = string.digits + string.ascii_lowercase + string.ascii_uppercase
# Apify's storage objects carry public URLs signed for this long (its docs: "valid for 14 days").
PUBLIC_URL_VALIDITY_MS = 14 * 24 * 3600 * 1000
# Longest signature worth decoding: a version, a 13-16 digit millisecond time and a ~24 char hmac.
_MAX_SIGNATURE_CHARS = 256


def _base62(number: int) -> str:
    digits = []
    while True:
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
        if number == 0:
            return "".join(reversed(digits))


def hmac_signature(secret_key: str, message: str) -> str:
    """The short HMAC the clients put in signatures (and alone, for a record)."""
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return _base62(int(digest[:30], 16))


def storage_signature(storage_id: str, secret_key: str, expires_at_ms: int = 0, version: int = 0) -> str:
    """A signature that opens the storage's signed reads until expires_at_ms (0: forever)."""
    signed = hmac_signature(secret_key, f"{version}.{expires_at_ms}.{storage_id}")
    return base64.urlsafe_b64encode(f"{version}.{expires_at_ms}.{signed}".encode()).decode().rstrip("=")


def storage_signature_valid(signature: str, storage_id: str, secret_key: str, now_ms: int) -> bool:
    """Whether `signature` was made for this storage with its key and has not expired."""
    if not 0 < len(signature) <= _MAX_SIGNATURE_CHARS:
        return False
    try:
        padded = signature.rstrip("=") + "=" * (-len(signature.rstrip("=")) % 4)
        payload = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, ValueError):  # UnicodeError is a ValueError
        return False
    parts = payload.split(".")
    if len(parts) != 3:
        return False
    version, expires_at, signed = parts
    if not (version.isascii() and version.isdigit() and expires_at.isascii() and expires_at.isdigit()):
        return False
    expected = hmac_signature(secret_key, f"{version}.{expires_at}.{storage_id}")
    if not hmac.compare_digest(signed.encode(), expected.encode()):
        return False
    return int(expires_at) == 0 or now_ms <= int(expires_at)


def record_signature_valid(signature: str, key: str, secret_key: str) -> bool:
    """Whether `signature` is the store's signature of this record key."""
    if not 0 < len(signature) <= _MAX_SIGNATURE_CHARS or not signature.isascii():
        return False
    return hmac.compare_digest(signature.encode(), hmac_signature(secret_key, key).encode())
