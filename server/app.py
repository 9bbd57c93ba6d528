"""The API's composition root: create_app(settings) wires routes, error handlers and the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from server.errors import (
    ApiError,
    ServiceUnavailable,
    handle_api_error,
    handle_http_exception,
)
from server.in_flight import InFlight
from server.lifespan import lifespan_for
from server.observability.logs import configure_logging
from server.observability.metrics import configure_metrics
from server.observability.requests import ObserveRequests, tag_routes
from server.rate_limits import RateLimits
from server.router import Handler, IndexedRouter
from server.routes import routes
from server.settings import Settings
from server.standby.api import StandbyHosts


async def _database_down(request: Request, exc: Exception) -> Response:
    return await handle_api_error(
        request, ServiceUnavailable("The database is not available, try again later.")
    )


async def _redis_down(request: Request, exc: Exception) -> Response:
    return await handle_api_error(request, ServiceUnavailable("The queue is not available, try again later."))


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    # This process's log lines and metric files (server/observability/), before any request.
    configure_logging(settings)
    configure_metrics(settings, f"api{settings.port}")
    table = routes()
    tag_routes(table)  # the access log and the metrics name a request by its route's template

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with lifespan_for(settings) as state:
            # What the server's signal handler calls to end held requests (server/cli.py).
            app.state.drain_soon = state["app"].waiters.drain_soon
            yield state

    middleware = [
        Middleware(InFlight, settings=settings),
        Middleware(ObserveRequests),
        Middleware(RateLimits, settings=settings),
    ]
    if settings.standby_host:
        # <username>--<actor>.<host>: the actor's standby path (server/standby/), first, so that the
        # limits and the access log see it as they see that path.
        middleware.insert(0, Middleware(StandbyHosts, settings=settings))
    app = _Api(middleware=middleware)
    # Before the first request builds the stack.
    app.router = IndexedRouter(table, lifespan=lifespan, exception_handlers=_HANDLERS)
    return app


# How an exception an endpoint raises is answered (the router looks them up, by class); any other is
# a 500, from server/observability/requests.py.
_HANDLERS: dict[type[Exception], Handler] = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    OperationalError: _database_down,
    InterfaceError: _database_down,
    PoolTimeout: _database_down,  # every pooled connection busy: the database is overloaded
    RedisConnectionError: _redis_down,
}


class _Api(Starlette):
    """Starlette, without its exception and server error middlewares: the router answers the
    exceptions of the endpoints it calls (server/router.py), and the access log's middleware the
    500 (server/observability/requests.py). Their layers were three more coroutines and a Request
    that a held run-sync kept."""

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app
