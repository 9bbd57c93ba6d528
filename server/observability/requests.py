"""One pure ASGI middleware for every HTTP request: its access log line and its metrics, and the 500
it answers when the app failed before answering (Starlette's server error middleware did that, one
more coroutine a held request kept).

Pure ASGI, not BaseHTTPMiddleware: run-sync and waitForFinish hold requests for minutes, and
BaseHTTPMiddleware would hold a task and a body stream per request besides. The line is written when
the answer has been sent (or the request failed), with the route's template, never the raw URL: a
template keeps the metrics' labels few, and a URL's query may carry a token (`?token=`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import server_error_response
from server.observability.metrics import instruments

access_log = logging.getLogger("greenroom.access")

_ROUTE = "greenroom.route"  # the matched route's template, set by the route itself (tag_routes)
_FACTS = "greenroom.facts"  # who and what a request was about, noted by the endpoints (note)
UNMATCHED = "unmatched"  # no route: one label for every unknown URL


def tag_routes(routes: Iterable[BaseRoute], prefix: str = "") -> None:
    """Make each route write its template into the scope when it handles a request. Starlette
    records only the endpoint, and several routes share one (`/v2/acts` and `/v2/actors`)."""
    for route in routes:
        if isinstance(route, Mount):
            tag_routes(route.routes, prefix + route.path)
            template = prefix + route.path + "/{path:path}"
        elif isinstance(route, Route | WebSocketRoute):
            template = prefix + route.path
        else:
            continue
        route.app = _tagged(route.app, template)


def _tagged(app: ASGIApp, template: str) -> ASGIApp:
    async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
        tag(scope, template)
        await app(scope, receive, send)

    return tagged


def tag(scope: Scope, template: str) -> None:
    """Name the request by its route's template (the router does, for the routes it calls directly)."""
    scope[_ROUTE] = template


def note(request: Request, *, user_id: str | None = None, run_id: str | None = None) -> None:
    """Tell the access log who asked (the token's user) and which run the request is about."""
    facts: dict[str, str] = request.scope.setdefault(_FACTS, {})
    if user_id:
        facts["user_id"] = user_id
    if run_id:
        facts["run_id"] = run_id


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0  # none sent yet

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if not status:
                status = 500
                await server_error_response()(scope, receive, send)
            raise  # uvicorn logs it
        finally:
            _record(scope, status or 500, time.perf_counter() - began)


# A request's two series, by (route template, method, status). prometheus_client's labels() builds
# and locks its key on every call: 8% of the API's time answering a burst of held requests
# (bench/hold.py). Few keys: templates, not URLs, and the methods httptools parses.
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _series_of(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    series = _series.get((route, method, status))
    if series is None:
        counted = instruments()
        series = (
            counted.http_requests.labels(route, method, str(status)),
            counted.http_duration.labels(route, method),
        )
        _series[(route, method, status)] = series
    return series


def _record(scope: Scope, status: int, duration_s: float) -> None:
    route, method = scope.get(_ROUTE, UNMATCHED), scope["method"]
    requests, durations = _series_of(route, method, status)
    requests.inc()
    durations.observe(duration_s)
    fields: dict[str, Any] = {
        "method": method,
        "route": route,
        "path": scope["path"],  # the path only: the query string may hold a token
        "status": status,
        "duration_ms": round(duration_s * 1000, 1),
    }
    facts: dict[str, str] = scope.get(_FACTS, {})
    run_id = facts.get("run_id") or (scope.get("path_params") or {}).get("runId")
    if facts.get("user_id"):
        fields["user_id"] = facts["user_id"]
    if run_id:
        fields["run_id"] = run_id
    access_log.info(
        "%s %s %d %.1f ms", method, scope["path"], status, duration_s * 1000, extra={"fields": fields}
    )
