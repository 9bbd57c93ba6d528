"""Secret env vars at rest: sealed with AES-SIV under GREENROOM_SECRETS_KEY, opened only by the
worker that runs (or builds) the version.

A secret is stored as {"name", "isSecret": true, "sealed": "<base64>"}: never with a "value", so
nothing that reads a row (a backup, a SQL console, a leaked database file) sees it. AES-SIV is
deterministic: the same value under the same key seals to the same text, which is what lets the
API tell an unchanged secret from a changed one (a version is rebuilt only when it changes), and
reveals no more than that two sealed values are equal. The variable's name is the associated data,
so a sealed value moved to another variable does not open.

The key is 32 or more random bytes, base64 (`openssl rand -base64 32`); `greenroom dev` makes one in
<data dir>/secrets-key on its first start. Secrets written before this existed (a "value" on a
secret) are read as they are, and sealed by migration 0007 where the key is set.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"greenroom secret env vars v1"


class SecretsUnavailable(Exception):
    """Raised when a secret must be sealed or opened and there is no (right) key; the message says why."""


def check_key(text: str) -> bytes:
    """The key's bytes; ValueError naming GREENROOM_SECRETS_KEY if it is not 32+ bytes of base64."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 32:
        raise ValueError(
            "GREENROOM_SECRETS_KEY must be at least 32 random bytes, base64 (openssl rand -base64 32)"
        )
    return raw


def _cipher(key: str) -> AESSIV:
    if not key:
        raise SecretsUnavailable("GREENROOM_SECRETS_KEY is not set here")
    derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_INFO).derive(check_key(key))
    return AESSIV(derived)


def seal(key: str, name: str, value: str) -> str:
    return base64.b64encode(_cipher(key).encrypt(value.encode(), [name.encode()])).decode()


def open_sealed(key: str, name: str, sealed: str) -> str:
    try:
        return _cipher(key).decrypt(base64.b64decode(sealed), [name.encode()]).decode()
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise SecretsUnavailable(
            f"the secret env var {name!r} does not open with this GREENROOM_SECRETS_KEY"
        ) from exc


def seal_env_vars(key: str, env_vars: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The vars as they are stored: each secret with a "value" sealed (those already sealed as they are)."""
    stored = []
    for var in env_vars:
        if var.get("isSecret") and "value" in var:
            var = {"name": var["name"], "isSecret": True, "sealed": seal(key, var["name"], str(var["value"]))}
        stored.append(var)
    return stored


def env_var_value(key: str, var: dict[str, Any]) -> str:
    """What the program sees: the plain value, or the secret opened."""
    if "sealed" in var:
        return open_sealed(key, str(var["name"]), str(var["sealed"]))
    return str(var.get("value", ""))
