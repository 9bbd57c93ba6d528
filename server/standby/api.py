"""The routes of Actor Standby: `/v2/actor-standby/<username>--<actor>/...` on the API and, where
GREENROOM_STANDBY_HOST is set, every path of `<username>--<actor>.<that host>` (StandbyHosts makes
such a request the path's)."""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from server.api.auth import authenticate
from server.lifespan import state_of
from server.settings import Settings
from server.standby.proxy import forward
from server.standby.routing import leave, take
from server.standby.service import standby_actor

PREFIX = "/v2/actor-standby"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Set on a request that came by its standby host name: the path the caller asked for, raw.
_HOST_PATH = "greenroom.standby_path"


async def serve(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor, config = await standby_actor(state, user, request.path_params["name"])
    target = await take(state, user, actor, config)

    async def done() -> None:
        await leave(state, target)

    try:
        return await forward(state.standby, request, target, _path(request), done)
    except BaseException:
        with anyio.CancelScope(shield=True):  # however it ends, cancelled too (proxy.py)
            await done()
        raise


def _path(request: Request) -> str:
    """What follows the actor in the path, as the caller encoded it (with the query, apart)."""
    if _HOST_PATH in request.scope:
        return str(request.scope[_HOST_PATH])
    raw = request.scope.get("raw_path")
    prefix = f"{PREFIX}/{request.path_params['name']}"
    if isinstance(raw, bytes) and raw.decode("latin-1").startswith(prefix):
        return raw.decode("latin-1")[len(prefix) :] or "/"
    return "/" + quote(request.path_params.get("path", ""))


def standby_routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/{{name}}", serve, methods=_METHODS),
        Route(f"{PREFIX}/{{name}}/{{path:path}}", serve, methods=_METHODS),
    ]


class StandbyHosts:
    """A request to `<username>--<actor>.<GREENROOM_STANDBY_HOST>` is served as the actor's standby
    path, whatever its own path is (so an actor's /v2/... is its own, never the API's)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.suffix = f".{settings.standby_host}"

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine: a held request keeps no frame of it."""
        name = _actor_host(scope, self.suffix) if scope["type"] == "http" else None
        if name:
            raw = scope.get("raw_path") or scope["path"].encode()
            path = f"{PREFIX}/{name}{scope['path']}"
            scope = dict(scope, path=path, raw_path=path.encode())
            scope[_HOST_PATH] = raw.decode("latin-1")
        return self.app(scope, receive, send)


def _actor_host(scope: Scope, suffix: str) -> str | None:
    """`<username>--<actor>` of a Host header `<username>--<actor><suffix>[:port]`, else None."""
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
    if not host.startswith("["):
        host = host.partition(":")[0]
    name = host.removesuffix(suffix)
    return name if name != host and name and "." not in name else None
