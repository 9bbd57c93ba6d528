"""What the request queue endpoints share: their query parameters, and resolving the queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import rows_as_caller
from server.api.params import parse_bool, parse_number
from server.errors import InvalidInput, NotFound
from server.lifespan import AppState, state_of
from server.services.resolve import request_queue_row
from server.storage.models import User
from server.storage.rows import QueueView

MAX_CLIENT_KEY_CHARS = 32
MAX_LOCK_SECS = 24 * 3600

QueueEndpoint = Callable[[Request, AppState, User, QueueView], Awaitable[Response]]


def client_key(params: QueryParams) -> str | None:
    """clientKey: 1 to 32 characters (Apify's rule); missing means a client of its own."""
    value = params.get("clientKey")
    if value is None or value == "":
        return None
    if len(value) > MAX_CLIENT_KEY_CHARS or "\x00" in value:
        raise InvalidInput(f"Parameter 'clientKey' must be 1 to {MAX_CLIENT_KEY_CHARS} characters long.")
    return value


def forefront(params: QueryParams) -> bool:
    return bool(parse_bool(params, "forefront"))


def lock_secs(params: QueryParams) -> float:
    value = parse_number(params, "lockSecs")
    if value is None:
        raise InvalidInput("Parameter 'lockSecs' is required.")
    if value > MAX_LOCK_SECS:
        raise InvalidInput(f"Parameter 'lockSecs' must be at most {MAX_LOCK_SECS}.")
    return value


def limit(params: QueryParams, default: int, maximum: int, *, clamp: bool = True) -> int:
    value = parse_number(params, "limit")
    if value is None:
        return default
    if not clamp and value > maximum:
        raise InvalidInput(f"Parameter 'limit' must be at most {maximum}.")
    return max(0, min(int(value), maximum))


def request_id(request: Request) -> str:
    value: str = request.path_params["requestId"]
    if "\x00" in value or len(value) > 64:
        raise NotFound("Request was not found")  # no stored id is like it (PostgreSQL refuses NUL)
    return value


def by_path(endpoint: QueueEndpoint) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint on the queue the path names (an id, username~name or ~name)."""

    async def handler(request: Request) -> Response:
        ref = request.path_params["queueId"]
        user, queue = await rows_as_caller(
            request, lambda connection, user: request_queue_row(connection, user, ref)
        )
        return await endpoint(request, state_of(request), user, queue)

    return handler
