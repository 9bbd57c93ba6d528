"""A queue's head and the locks on its requests: GET head, POST head/lock, PUT/DELETE
requests/:id/lock and POST requests/unlock (server/services/queue_locks.py has the rules)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.api import queue_params as qp
from server.lifespan import AppState
from server.responses import data_response
from server.services import queue_locks as svc
from server.shapes import head_item_json
from server.storage.ids import iso
from server.storage.models import User
from server.storage.rows import QueueView

HEAD_DEFAULT, HEAD_MAX = 100, 1000
LOCK_DEFAULT, LOCK_MAX = 25, 25  # Apify's limit for head/lock


def _head_json(head: svc.Head, limit: int) -> dict[str, Any]:
    return {
        "limit": limit,
        "queueModifiedAt": iso(head.queue.modified_at),
        "hadMultipleClients": head.queue.had_multiple_clients,
        "items": [head_item_json(row) for row in head.items],
    }


async def head_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """GET head: the first pending requests nobody holds a lock on, forefront ones first."""
    key = qp.client_key(request.query_params)
    limit = qp.limit(request.query_params, HEAD_DEFAULT, HEAD_MAX)
    # A write, not a read: the call is noted as a client's access (hadMultipleClients).
    head = await state.db.quick_write(lambda session: svc.list_head(session, queue.id, limit, key))
    return data_response(_head_json(head, limit))


async def lock_head_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """POST head/lock: 201 with the requests locked, each with its lockExpiresAt."""
    params = request.query_params
    key, secs = qp.client_key(params), qp.lock_secs(params)
    limit = qp.limit(params, LOCK_DEFAULT, LOCK_MAX, clamp=False)
    head = await state.db.quick_write(lambda session: svc.lock_head(session, queue.id, limit, secs, key))
    data = _head_json(head, limit) | {"lockSecs": int(secs), "queueHasLockedRequests": head.has_locked}
    if key is not None:
        data["clientKey"] = key
    data["items"] = [head_item_json(row) | {"lockExpiresAt": iso(row.lock_expires_at)} for row in head.items]
    return data_response(data, 201)


async def prolong_lock_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    params = request.query_params
    request_id, key, secs = qp.request_id(request), qp.client_key(params), qp.lock_secs(params)
    front = qp.forefront(params)
    expires = await state.db.quick_write(
        lambda session: svc.prolong_lock(session, queue.id, request_id, secs, forefront=front, client_key=key)
    )
    return data_response({"lockExpiresAt": iso(expires)})


async def delete_lock_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    params = request.query_params
    request_id, key, front = qp.request_id(request), qp.client_key(params), qp.forefront(params)
    await state.db.quick_write(
        lambda session: svc.delete_lock(session, queue.id, request_id, forefront=front, client_key=key)
    )
    return Response(status_code=204)


async def unlock_for(request: Request, state: AppState, user: User, queue: QueueView) -> Response:
    """POST requests/unlock: every lock the clientKey holds on the queue."""
    key = qp.client_key(request.query_params)
    count = await state.db.quick_write(lambda session: svc.unlock_all(session, queue.id, key))
    return data_response({"unlockedCount": count})
