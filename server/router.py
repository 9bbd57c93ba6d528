"""The API's router: Starlette's, but a request tries only the routes that could match its path, and
a matched endpoint is called directly.

Starlette tries every route in order, a regular expression each, until one matches: 332 routes here,
and the key-value record routes come late, so route matching took a tenth of a record `PUT`'s CPU
(py-spy under bench/cost.py). The routes are split by their path's first literal segment
(`/v2/<collection>`, or `/<segment>` for the console): a request is routed among those of its
segment alone, by a plain Starlette Router each (first match wins, 405 for a known path with another
method, the trailing-slash redirect, 404), so it answers as before.

A request that fully matches a route of an async endpoint (every API route) is answered here: the
endpoint is called, and an exception it raises is answered by the app's handlers. Starlette would
pass it through eight more layers (its exception middleware, the router's entry, the route, the
route's template tag, request_response and its exception wrapper), each a coroutine that a held
run-sync keeps for as long as it waits, and a second Request. Anything else (a partial match: 405;
the redirect; 404; the console's static files) goes Starlette's way, with the same handlers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

from server.observability.requests import tag

_ANY = ""  # the routes whose segment is a parameter: tried for every path, in their order

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


def _segment(path: str) -> str:
    """`v2/<collection>` for /v2/<collection>/..., else the first segment."""
    parts = path.split("/", 3)
    if len(parts) > 2 and parts[1] == "v2":
        return f"v2/{parts[2]}"
    return parts[1] if len(parts) > 1 else ""


def _route_segment(route: BaseRoute) -> str:
    if not isinstance(route, Route | Mount | WebSocketRoute):
        return _ANY
    segment = _segment(route.path)
    return _ANY if "{" in segment or not segment or segment == "v2/" else segment


def _direct(route: BaseRoute) -> tuple[Endpoint, str] | None:
    """The endpoint that a full match of `route` may call directly (an async function), with the
    route's template."""
    if type(route) is not Route:
        return None
    endpoint = route.endpoint
    if not (inspect.isfunction(endpoint) or inspect.ismethod(endpoint)):
        return None
    return (endpoint, route.path) if inspect.iscoroutinefunction(endpoint) else None


class IndexedRouter(Router):
    def __init__(
        self,
        routes: Sequence[BaseRoute],
        *,
        exception_handlers: Mapping[type[Exception], Handler] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(routes, **options)
        segments = {_route_segment(route) for route in self.routes} - {_ANY}
        self._by_segment = {
            segment: self._of([r for r in self.routes if _route_segment(r) in (segment, _ANY)])
            for segment in segments
        }
        self._anywhere = self._of([r for r in self.routes if _route_segment(r) == _ANY])
        self._handlers: dict[Any, Handler] = dict(exception_handlers or {})
        # What Starlette's own route code (taken for anything but a direct call) reads its handlers from.
        self._scope_handlers: tuple[dict[Any, Handler], dict[int, Handler]] = (self._handlers, {})

    @staticmethod
    def _of(routes: list[BaseRoute]) -> tuple[Router, list[tuple[BaseRoute, tuple[Endpoint, str] | None]]]:
        return Router(routes), [(route, _direct(route)) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan; a websocket (the API has none) goes Starlette's way
            await self.app(scope, receive, send)
            return
        scope.setdefault("router", self)  # url_path_for sees every route
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):  # as the routes see it (behind a mount)
            path = path[len(root) :]
        router, routes = self._by_segment.get(_segment(path), self._anywhere)
        for route, direct in routes:
            match, child_scope = route.matches(scope)
            if match is not Match.FULL:
                continue
            if direct is None:
                break
            # Not Starlette's "route" and handlers either: a scope of 21 keys keeps its small table.
            endpoint, template = direct
            scope.update(child_scope)
            tag(scope, template)
            request = Request(scope, receive, send)
            try:
                response = await endpoint(request)
            except Exception as exc:
                response = await self._answer(request, exc)
            await response(scope, receive, send)
            return
        scope["starlette.exception_handlers"] = self._scope_handlers
        await wrap_app_handling_exceptions(router.app, Request(scope, receive, send))(scope, receive, send)

    async def _answer(self, request: Request, exc: Exception) -> Response:
        """What the app's handler for `exc` answers (by its class, most derived first); no handler:
        raised on, to the server error middleware."""
        for cls in type(exc).__mro__:
            handler = self._handlers.get(cls)
            if handler is not None:
                response = await handler(request, exc)
                exc.__traceback__ = None  # a reused exception instance would grow its traceback
                return response
        raise exc

    def router_for(self, path: str) -> Router:
        """The router of the routes that could match `path`."""
        return self._by_segment.get(_segment(path), self._anywhere)[0]
