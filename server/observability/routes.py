"""The operator's routes, outside /v2: health, readiness, metrics."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from server.observability import health, scrape


def operations() -> list[BaseRoute]:
    return [
        Route("/health", health.health, methods=["GET"]),
        Route("/ready", health.ready, methods=["GET"]),
        Route("/metrics", scrape.metrics, methods=["GET"]),
    ]
