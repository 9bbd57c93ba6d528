"""Who may read a storage: its owner's token, or a signature made with the storage's
`urlSigningSecretKey` (Apify's signed public URLs, server/signatures.py), in the `signature` query
parameter instead of a token.

Only the reads Apify signs call these: a dataset's items, a key-value store's keys and records
archive (a storage signature, which may expire: `readable_dataset`, `readable_key_value_store`)
and one record (the record's signature: `readable_record_store`). Writes never look at a
signature: they authenticate the token alone.

A good signature opens the storage it was made for, whoever calls (a token sent with it is not
needed). A missing signature leaves the token to decide, as before. A bad, expired or other
storage's signature still lets the owner's token in; without it the answer is Apify's 403
`insufficient-permissions` ("Insufficient permissions for the dataset..."), or 404 when no such
storage exists.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from server.api.auth import authenticate, token_from
from server.errors import Forbidden, NotFound
from server.services.resolve import find_storage_of_anyone, get_dataset, get_key_value_store
from server.signatures import record_signature_valid, storage_signature_valid
from server.storage.models import Dataset, KeyValueStore, User

S = TypeVar("S", Dataset, KeyValueStore)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _refused(what: str) -> Forbidden:
    return Forbidden(
        f"Insufficient permissions for the {what}. Make sure you're passing a correct API token "
        "and that it has the required permissions."
    )


async def _readable(
    request: Request,
    session: AsyncSession,
    model: type[S],
    ref: str,
    what: str,
    owned: Callable[[AsyncSession, User, str], Awaitable[S]],
    signed: Callable[[str, S, str], bool],
) -> S:
    signature = request.query_params.get("signature")
    if not signature:
        return await owned(session, await authenticate(request, session), ref)
    storage = await find_storage_of_anyone(session, model, ref)
    secret = None if storage is None else storage.url_signing_secret_key
    if storage is not None and secret and signed(signature, storage, secret):
        return storage
    if token_from(request) is not None:
        user = await authenticate(request, session)
        try:
            return await owned(session, user, ref)
        except NotFound:
            if storage is None:
                raise
    elif storage is None:
        raise NotFound(f"{what.capitalize()} was not found")
    raise _refused(what)


def _storage_signed(signature: str, storage: Dataset | KeyValueStore, secret: str) -> bool:
    return storage_signature_valid(signature, storage.id, secret, _now_ms())


async def readable_dataset(request: Request, session: AsyncSession, ref: str) -> Dataset:
    """The dataset `ref` names, for reading its items (a storage signature or the owner's token)."""
    return await _readable(request, session, Dataset, ref, "dataset", get_dataset, _storage_signed)


async def readable_key_value_store(request: Request, session: AsyncSession, ref: str) -> KeyValueStore:
    """The store `ref` names, for listing its keys or reading all its records (the records
    archive): a storage signature or the owner's token."""
    return await _readable(
        request, session, KeyValueStore, ref, "key-value store", get_key_value_store, _storage_signed
    )


async def readable_record_store(request: Request, session: AsyncSession, ref: str, key: str) -> KeyValueStore:
    """The store `ref` names, for reading its record `key`: that record's signature or the owner's
    token (a record signature opens no other record, and no listing)."""

    def record_signed(signature: str, store: KeyValueStore, secret: str) -> bool:
        return record_signature_valid(signature, key, secret)

    return await _readable(
        request, session, KeyValueStore, ref, "key-value store", get_key_value_store, record_signed
    )
