"""Storages: datasets (items as a table, downloads), key-value stores (records by content type),
request queues (their requests)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from server.console.guard import console_page
from server.console.templating import page
from server.console.views import dataset_downloads, item_table, record_view
from server.lifespan import state_of
from server.services.resolve import get_dataset, get_key_value_store, get_request_queue
from server.storage.datasets import list_items_stmt
from server.storage.models import Dataset, KeyValueRecord, KeyValueStore, QueueRequest, RequestQueue, User

LISTED = 100
PREVIEW_ITEMS = 50

_KINDS: dict[str, Any] = {
    "datasets": ("Datasets", Dataset),
    "key-value-stores": ("Key-value stores", KeyValueStore),
    "request-queues": ("Request queues", RequestQueue),
}


@console_page
async def list_storages(request: Request, user: User, form: FormData) -> Response:
    """One page for each kind: the user's storages, named and of runs, newest first."""
    kind = request.url.path.strip("/")
    title, model = _KINDS[kind]
    async with state_of(request).db.read() as session:
        stmt = select(model).where(model.user_id == user.id).order_by(model.created_at.desc()).limit(LISTED)
        found = (await session.execute(stmt)).scalars().all()
    return page(request, "storages.html", user, title=title, kind=kind, storages=found)


@console_page
async def show_dataset(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        dataset = await get_dataset(session, user, request.path_params["datasetId"])
        items = (await session.execute(list_items_stmt(dataset.id, 0, PREVIEW_ITEMS, False))).scalars().all()
    columns, rows = item_table([json.loads(item) for item in items])
    return page(
        request,
        "dataset.html",
        user,
        dataset=dataset,
        columns=columns,
        rows=rows,
        downloads=dataset_downloads(dataset),
    )


@console_page
async def show_store(request: Request, user: User, form: FormData) -> Response:
    """The store's keys, and the chosen record (`?key=`) shown by its content type."""
    key = request.query_params.get("key")
    async with state_of(request).db.read() as session:
        store = await get_key_value_store(session, user, request.path_params["storeId"])
        stmt = (
            select(KeyValueRecord.key, KeyValueRecord.content_type, KeyValueRecord.size)
            .where(KeyValueRecord.store_id == store.id)
            .order_by(KeyValueRecord.key)
            .limit(1000)
        )
        keys = (await session.execute(stmt)).all()
        record = None
        if key is not None:
            chosen = select(KeyValueRecord).where(
                KeyValueRecord.store_id == store.id, KeyValueRecord.key == key
            )
            record = (await session.execute(chosen)).scalar_one_or_none()
    return page(
        request,
        "store.html",
        user,
        store=store,
        keys=keys,
        key=key,
        view=record_view(record),
        raw_url=f"/key-value-stores/{store.id}/raw/{key}" if key else "",
    )


@console_page
async def raw_record(request: Request, user: User, form: FormData) -> Response:
    """A record's bytes for the page's <img> and download link (the cookie, not a token, says who)."""
    async with state_of(request).db.read() as session:
        store = await get_key_value_store(session, user, request.path_params["storeId"])
        stmt = select(KeyValueRecord).where(
            KeyValueRecord.store_id == store.id, KeyValueRecord.key == request.path_params["key"]
        )
        record = (await session.execute(stmt)).scalar_one_or_none()
    if record is None:
        return Response("No such record.", 404)
    headers = {"Content-Encoding": record.content_encoding} if record.content_encoding else {}
    return Response(record.value, media_type=record.content_type, headers=headers)


@console_page
async def show_queue(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        queue = await get_request_queue(session, user, request.path_params["queueId"])
        stmt = (
            select(QueueRequest)
            .where(QueueRequest.queue_id == queue.id)
            .order_by(QueueRequest.handled_at.is_not(None), QueueRequest.order_no)
            .limit(LISTED)
        )
        requests = (await session.execute(stmt)).scalars().all()
    return page(request, "queue.html", user, queue=queue, requests=requests)
