"""A request queue's routes, for /v2/request-queues/{queueId} and for a run's default queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api import queue_locks as locks
from server.api import request_queues as rq
from server.api.queue_params import QueueEndpoint

Handler = Callable[[Request], Awaitable[Response]]


def queue_routes(base: str, on: Callable[[QueueEndpoint], Handler]) -> list[BaseRoute]:
    """The routes under base; `on` turns each *_for endpoint into a handler that finds the queue
    (by the path's queueId, or as a run's default queue)."""
    one = f"{base}/requests/{{requestId}}"
    return [
        Route(base, on(rq.get_for), methods=["GET"]),
        Route(base, on(rq.update_for), methods=["PUT"]),
        Route(base, on(rq.delete_for), methods=["DELETE"]),
        Route(f"{base}/requests", on(rq.list_requests_for), methods=["GET"]),
        Route(f"{base}/requests", on(rq.add_request_for), methods=["POST"]),
        # Before requests/{requestId}, which would otherwise take "batch" and "unlock" for ids.
        Route(f"{base}/requests/batch", on(rq.batch_add_for), methods=["POST"]),
        Route(f"{base}/requests/batch", on(rq.batch_delete_for), methods=["DELETE"]),
        Route(f"{base}/requests/unlock", on(locks.unlock_for), methods=["POST"]),
        Route(one, on(rq.get_request_for), methods=["GET"]),
        Route(one, on(rq.update_request_for), methods=["PUT"]),
        Route(one, on(rq.delete_request_for), methods=["DELETE"]),
        Route(f"{one}/lock", on(locks.prolong_lock_for), methods=["PUT"]),
        Route(f"{one}/lock", on(locks.delete_lock_for), methods=["DELETE"]),
        Route(f"{base}/head", on(locks.head_for), methods=["GET"]),
        Route(f"{base}/head/lock", on(locks.lock_head_for), methods=["POST"]),
    ]
