"""/v2/request-queues: the collection (list, get-or-create), one queue (get, rename, delete) and its
requests (list, add, batch add and delete, get, update, delete).

The `*_for` functions take a queue already resolved, so run-scoped routes (a run's default queue)
answer with the same code; server/api/queue_locks.py has the head and the locks.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from server.api import queue_params as qp
from server.api.body import read_json
from server.api.storages import StorageKind
from server.errors import InvalidInput
from server.lifespan import AppState
from server.responses import data_response
from server.services import queue_requests as svc
from server.services.queue_drafts import check_batch, check_delete_ref, check_draft
from server.shapes import queue_request_json, request_queue_json
from server.storage.ids import utcnow
from server.storage.models import RequestQueue, User
from server.storage.request_queues import delete_queue_stmts, list_requests_stmt
from server.storage.rows import QueueView

LIST_DEFAULT, LIST_MAX = 100, 10_000


async def _shape(
    session: AsyncSession, rows: Sequence[RequestQueue], user: User, base: str
) -> list[dict[str, Any]]:
    return [request_queue_json(q, user, base) for q in rows]


QUEUES = StorageKind(RequestQueue, "Request queue", "request-queues", _shape, listed_name_required=True)
list_, get_or_create, update_for = QUEUES.list_, QUEUES.get_or_create, QUEUES.update_for


async def get_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    return data_response(request_queue_json(queue, user, state.settings.api_base_url))


async def delete_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """DELETE: the queue and all its requests, 204."""
    # In a writer thread: every request of the queue goes (Database.quick_write).
    await state.db.quick_write(
        lambda session: [session.execute(s) for s in delete_queue_stmts(queue.id)], inline=False
    )
    return Response(status_code=204)


def _cursor(raw: str | None) -> str | None:
    """cursor: our own opaque spelling of the last id of the previous page."""
    if raw is None or raw == "":
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode() + b"==").decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("Parameter 'cursor' is not valid.") from None


async def list_requests_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """GET requests: by id, `limit` at a time, after `exclusiveStartId` (or `cursor`)."""
    params = request.query_params
    qp.client_key(params)
    limit = qp.limit(params, LIST_DEFAULT, LIST_MAX)
    start = params.get("exclusiveStartId") or None
    after = _cursor(params.get("cursor")) or start
    filters = tuple(f for f in ",".join(params.getlist("filter")).split(",") if f)
    if any(f not in ("locked", "pending") for f in filters):
        raise InvalidInput("Parameter 'filter' must be locked, pending or both.")
    if after is not None and "\x00" in after:
        raise InvalidInput("Parameter 'exclusiveStartId' is not valid.")
    stmt = list_requests_stmt(queue.id, limit, after, filters, utcnow())
    rows = await state.db.quick_read(lambda session: session.execute(stmt).scalars().all())
    data: dict[str, Any] = {"items": [queue_request_json(r) for r in rows], "limit": limit}
    if start is not None:
        data["exclusiveStartId"] = start
    if rows and len(rows) == limit:
        data["nextCursor"] = base64.urlsafe_b64encode(rows[-1].id.encode()).decode().rstrip("=")
    return data_response(data)


async def add_request_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """POST requests: 201 {requestId, wasAlreadyPresent, wasAlreadyHandled}."""
    key, front = qp.client_key(request.query_params), qp.forefront(request.query_params)
    draft = check_draft(await read_json(request, state.settings.max_body_bytes))
    dialect = state.db.dialect
    (added,) = await state.db.quick_write(
        lambda session: svc.add_requests(session, dialect, queue.id, [draft], forefront=front, client_key=key)
    )
    del added["uniqueKey"]  # Apify's RequestRegistration has no uniqueKey
    return data_response(added, 201)


async def batch_add_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """POST requests/batch: up to 25, all or nothing (nothing is left unprocessed here)."""
    key, front = qp.client_key(request.query_params), qp.forefront(request.query_params)
    batch = check_batch(await read_json(request, state.settings.max_body_bytes))
    drafts = [check_draft(item, f"Request {i}") for i, item in enumerate(batch)]
    dialect = state.db.dialect
    added = await state.db.quick_write(
        lambda session: svc.add_requests(session, dialect, queue.id, drafts, forefront=front, client_key=key)
    )
    return data_response({"processedRequests": added, "unprocessedRequests": []}, 201)


async def batch_delete_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """DELETE requests/batch: by id or uniqueKey; one not in the queue counts as deleted."""
    key = qp.client_key(request.query_params)
    batch = check_batch(await read_json(request, state.settings.max_body_bytes))
    refs = [check_delete_ref(item, i) for i, item in enumerate(batch)]
    ids = [request_id for request_id, _ in refs]
    await state.db.quick_write(lambda session: svc.delete_requests(session, queue.id, ids, key))
    processed = [
        {"id": request_id} | ({"uniqueKey": unique_key} if unique_key is not None else {})
        for request_id, unique_key in refs
    ]
    return data_response({"processedRequests": processed, "unprocessedRequests": []})


async def get_request_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    request_id = qp.request_id(request)
    row = await state.db.quick_read(lambda session: svc.get_request(session, queue.id, request_id))
    return data_response(queue_request_json(row))


async def update_request_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """PUT requests/:id: the whole request; handledAt set marks it handled."""
    request_id = qp.request_id(request)
    key, front = qp.client_key(request.query_params), qp.forefront(request.query_params)
    body = await read_json(request, state.settings.max_body_bytes)
    draft = check_draft(body)
    if isinstance(body, dict) and body.get("id") not in (None, request_id):
        raise InvalidInput("The request's 'id' does not match the one in the URL.")
    registration = await state.db.quick_write(
        lambda session: svc.update_request(
            session, queue.id, request_id, draft, forefront=front, client_key=key
        )
    )
    return data_response(registration)


async def delete_request_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    request_id = qp.request_id(request)
    key = qp.client_key(request.query_params)

    def delete(session: Session) -> None:
        svc.get_request(session, queue.id, request_id)  # 404 for one that is not there
        svc.delete_requests(session, queue.id, [request_id], key)

    await state.db.quick_write(delete)
    return Response(status_code=204)
