"""/v2/key-value-stores: stores (list, get-or-create, get, rename, delete), keys and records.

Records keep their bytes, Content-Type and encoding. The `*_for` functions take a store already
resolved, so run-scoped routes (a run's default store) can answer with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from server.api.auth import authenticate, read_as_caller, rows_as_caller
from server.api.body import check_encoded, content_encoding, content_type, read_raw
from server.api.pagination import MAX_LIMIT
from server.api.params import parse_int
from server.api.signed_reads import readable_key_value_store, readable_record_store
from server.api.storages import StorageKind
from server.errors import InvalidInput, InvalidRecordKey, NotFound
from server.lifespan import AppState, state_of
from server.public_urls import record_public_url
from server.responses import data_response, raw_json_response, record_response
from server.services.records import put_record as put_record_in
from server.services.records_archive import archive_chunks, check_archive_size
from server.services.resolve import get_key_value_store, key_value_store_id, key_value_store_sync
from server.shapes import key_value_store_with_stats_json
from server.storage.db import INLINE_WRITE_MAX_BYTES
from server.storage.key_value_stores import (
    RECORD_ROW,
    delete_record_stmt,
    delete_store_stmts,
    get_record_stmt,
    is_valid_key,
    list_keys_stmt,
    store_bytes_stmt,
)
from server.storage.models import KeyValueStore, User
from server.storage.rows import RecordRow, RecordView


def _key(request: Request) -> str:
    key: str = request.path_params["recordKey"]
    if not is_valid_key(key):
        raise InvalidRecordKey("Record key contains invalid character")
    return key


def _storage_bytes(session: Session, store_ids: list[str]) -> dict[str, int]:
    if not store_ids:
        return {}
    rows = session.execute(store_bytes_stmt(store_ids)).all()
    return {store_id: int(size) for store_id, size in rows}


async def _resolved(request: Request) -> tuple[AppState, User, KeyValueStore]:
    ref = request.path_params["storeId"]
    user, store = await read_as_caller(
        request, lambda session, user: key_value_store_sync(session, user, ref)
    )
    return state_of(request), user, store


async def get_store_for(request: Request, state: AppState, user: User, store: KeyValueStore) -> Response:
    sizes = await state.db.quick_read(lambda session: _storage_bytes(session, [store.id]), inline=False)
    size = sizes.get(store.id, 0)
    return data_response(key_value_store_with_stats_json(store, user, state.settings.api_base_url, size))


async def get_store(request: Request) -> Response:
    return await get_store_for(request, *await _resolved(request))


async def _shape(
    session: AsyncSession, stores: Sequence[KeyValueStore], user: User, base: str
) -> list[dict[str, Any]]:
    sizes = await session.run_sync(_storage_bytes, [s.id for s in stores])
    return [key_value_store_with_stats_json(s, user, base, sizes.get(s.id, 0)) for s in stores]


STORES = StorageKind(KeyValueStore, "Key-value store", "key-value-stores", _shape)
list_, get_or_create, update_for = STORES.list_, STORES.get_or_create, STORES.update_for


async def update(request: Request) -> Response:
    return await update_for(request, *await _resolved(request))


async def delete_for(request: Request, state: AppState, user: User, store: KeyValueStore) -> Response:
    """DELETE: the store and all its records, 204."""
    async with state.db.transaction() as session:
        for stmt in delete_store_stmts(store.id):
            await session.execute(stmt)
    return Response(status_code=204)


async def delete_(request: Request) -> Response:
    return await delete_for(request, *await _resolved(request))


def _key_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise InvalidInput(f"Parameter '{name}' must not contain NUL characters.")
    return value or None


async def list_keys_for(request: Request, state: AppState, user: User, store: KeyValueStore) -> Response:
    return await _keys_response(request, state, store)


async def _keys_response(request: Request, state: AppState, store: KeyValueStore) -> Response:
    """GET .../keys: keys in UTF-8 binary order after exclusiveStartKey, at most `limit` (1..1000;
    0 or missing means 1000, as the clients' iterators send 0). collection is ignored: there are
    no store schemas. Each key's recordPublicUrl carries the record's signature, as Apify's."""
    limit = parse_int(request.query_params, "limit") or MAX_LIMIT
    limit = min(limit, MAX_LIMIT)
    start = _key_param(request, "exclusiveStartKey")
    prefix = _key_param(request, "prefix")
    async with state.db.read() as session:
        stmt = list_keys_stmt(state.db.dialect, store.id, start, prefix, limit + 1)
        rows = (await session.execute(stmt)).all()
    truncated = len(rows) > limit
    rows = rows[:limit]
    base = state.settings.api_base_url
    items = [
        {"key": key, "size": int(size), "recordPublicUrl": record_public_url(base, store, key)}
        for key, size in rows
    ]
    return data_response(
        {
            "items": items,
            "count": len(items),
            "limit": limit,
            "exclusiveStartKey": start,
            "isTruncated": truncated,
            "nextExclusiveStartKey": items[-1]["key"] if truncated else None,
        }
    )


async def list_keys(request: Request) -> Response:
    """The owner's token or a storage signature (a signed keysPublicUrl) lists the keys."""
    state = state_of(request)
    async with state.db.read() as session:
        store = await readable_key_value_store(request, session, request.path_params["storeId"])
    return await _keys_response(request, state, store)


async def records_archive_for(
    request: Request, state: AppState, user: User, store: KeyValueStore
) -> Response:
    return await _archive_response(request, state, store)


async def _archive_response(request: Request, state: AppState, store: KeyValueStore) -> Response:
    """GET .../records: every record (of `prefix`) in a ZIP, streamed. `collection` is accepted and
    ignored (there are no store schemas, as for .../keys)."""
    prefix = _key_param(request, "prefix")
    _key_param(request, "collection")
    await check_archive_size(state.db, state.settings, store.id, prefix)
    filename = f"{store.name or store.id}.zip"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    chunks = archive_chunks(state.db, state.settings, store.id, prefix)
    return StreamingResponse(chunks, headers=headers, media_type="application/zip")


async def records_archive(request: Request) -> Response:
    """The owner's token or a storage signature (a signed recordsPublicUrl) downloads the ZIP."""
    state = state_of(request)
    async with state.db.read() as session:
        store = await readable_key_value_store(request, session, request.path_params["storeId"])
    return await _archive_response(request, state, store)


async def get_record(request: Request) -> Response:
    """GET or HEAD a record, with the owner's token or the record's signature (a signed
    recordPublicUrl); attachment and disableRedirect are accepted and ignored."""
    state = state_of(request)
    key, ref = _key(request), request.path_params["storeId"]
    record: RecordView | None
    if request.query_params.get("signature"):
        async with state.db.read() as session:
            store = await readable_record_store(request, session, ref, key)
            record = (await session.execute(get_record_stmt(store.id, key))).scalar_one_or_none()
    else:  # the owner's token: one quick read (an actor reads its INPUT so at every start)

        def read(connection: Connection, user: User) -> RecordRow | None:
            found = {"store_id": key_value_store_id(connection, user, ref), "key": key}
            return connection.execute(RECORD_ROW, found).one_or_none()

        _user, record = await rows_as_caller(request, read)
    if record is None:
        raise NotFound("Record was not found")
    return record_response(record, head=request.method == "HEAD")


async def put_record(request: Request) -> Response:
    """PUT/POST: stored exactly as uploaded, with its Content-Type and Content-Encoding."""
    state = state_of(request)
    user = await authenticate(request)
    key = _key(request)
    encoding = content_encoding(request)
    media_type = content_type(request, "application/octet-stream")
    value = await read_raw(request, state.settings.max_record_bytes)
    await check_encoded(value, encoding, state.settings.max_record_bytes)
    store_ref, dialect = request.path_params["storeId"], state.db.dialect
    stored_encoding = None if encoding == "identity" else encoding
    store_id = await state.db.quick_core_write(
        lambda connection: put_record_in(
            connection, dialect, user, store_ref, key, value, media_type, stored_encoding
        ),
        inline=len(value) <= INLINE_WRITE_MAX_BYTES,
    )
    location = f"{state.settings.api_base_url}/v2/key-value-stores/{store_id}/records/{key}"
    response = raw_json_response({}, 201)
    response.headers["Location"] = location
    return response


async def delete_record(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    key = _key(request)
    async with state.db.transaction() as session:
        store = await get_key_value_store(session, user, request.path_params["storeId"])
        await session.execute(delete_record_stmt(store.id, key))
    return Response(status_code=204)
