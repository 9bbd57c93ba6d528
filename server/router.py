"""The API's router: Starlette's, but a request tries only the routes that could match its path.

Starlette tries every route in order, a regular expression each, until one matches: 332 routes here,
and the key-value record routes come late, so route matching took a tenth of a record `PUT`'s CPU
(py-spy under bench/cost.py). The routes are split by their path's first literal segment
(`/v2/<collection>`, or `/<segment>` for the console): a request is routed among those of its
segment alone, by a plain Starlette Router each (first match wins, 405 for a known path with another
method, the trailing-slash redirect, 404), so it answers as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

_ANY = ""  # the routes whose segment is a parameter: tried for every path, in their order


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


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **options: Any) -> None:
        super().__init__(routes, **options)
        segments = {_route_segment(route) for route in self.routes} - {_ANY}
        self._by_segment = {
            segment: Router([r for r in self.routes if _route_segment(r) in (segment, _ANY)])
            for segment in segments
        }
        self._anywhere = Router([r for r in self.routes if _route_segment(r) == _ANY])

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)  # url_path_for sees every route
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):  # as the routes see it (behind a mount)
            path = path[len(root) :]
        await self.router_for(path).app(scope, receive, send)

    def router_for(self, path: str) -> Router:
        """The router of the routes that could match `path`."""
        return self._by_segment.get(_segment(path), self._anywhere)
