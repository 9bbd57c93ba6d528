"""/v2/key-value-stores: stores and records. Records keep their bytes, Content-Type and encoding."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import content_encoding, content_type, read_raw
from server.errors import InvalidRecordKey, NameNotUnique, NotFound
from server.lifespan import state_of
from server.responses import data_response, raw_json_response, record_response
from server.services.resolve import get_key_value_store
from server.services.validation import check_storage_name
from server.shapes import key_value_store_json
from server.storage.ids import utcnow
from server.storage.key_value_stores import (
    delete_record_stmt,
    get_record_stmt,
    is_valid_key,
    upsert_record_stmt,
)
from server.storage.models import KeyValueStore


def _key(request: Request) -> str:
    key: str = request.path_params["recordKey"]
    if not is_valid_key(key):
        raise InvalidRecordKey("Record key contains invalid character")
    return key


async def get_store(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        store = await get_key_value_store(session, user, request.path_params["storeId"])
    return data_response(key_value_store_json(store, user, state.settings.api_base_url))


async def get_or_create(request: Request) -> Response:
    """POST ?name=: 201 with a new store, 200 with the existing one of that name."""
    state = state_of(request)
    user = await authenticate(request)
    name = request.query_params.get("name") or None
    if name is not None:
        check_storage_name(name, "Key-value store")
    async with state.db.transaction() as session:
        if name is not None:
            stmt = select(KeyValueStore).where(KeyValueStore.user_id == user.id, KeyValueStore.name == name)
            existing = (await session.execute(stmt)).scalar_one_or_none()
            if existing is not None:
                return data_response(key_value_store_json(existing, user, state.settings.api_base_url))
        store = KeyValueStore(user_id=user.id, name=name)
        session.add(store)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create of the same name won
            raise NameNotUnique("storage-name-not-unique") from exc
    location = f"{state.settings.api_base_url}/v2/key-value-stores/{store.id}"
    return data_response(key_value_store_json(store, user, state.settings.api_base_url), 201, location)


async def get_record(request: Request) -> Response:
    """GET or HEAD a record (attachment, disableRedirect and signature are accepted and ignored)."""
    state = state_of(request)
    user = await authenticate(request)
    key = _key(request)
    async with state.db.read() as session:
        store = await get_key_value_store(session, user, request.path_params["storeId"])
        record = (await session.execute(get_record_stmt(store.id, key))).scalar_one_or_none()
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
    async with state.db.transaction() as session:
        store = await get_key_value_store(session, user, request.path_params["storeId"])
        stored_encoding = None if encoding == "identity" else encoding
        await session.execute(
            upsert_record_stmt(state.db.dialect, store.id, key, value, media_type, stored_encoding)
        )
        store.modified_at = utcnow()
    location = f"{state.settings.api_base_url}/v2/key-value-stores/{store.id}/records/{key}"
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
