"""server/router.py: a request is routed among the routes of its path's first segment only, and to the
route Starlette's router would have taken among them all."""

from __future__ import annotations

import re

import pytest
from starlette.routing import BaseRoute, Match

from server.router import IndexedRouter
from server.routes import routes

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def _paths() -> list[str]:
    """A concrete path for every route template, its variants with a trailing slash and without,
    and paths no route has."""
    paths = []
    for route in routes():
        concrete = re.sub(r"\{[^}]+\}", "x1", getattr(route, "path", ""))
        paths += [concrete or "/", concrete.rstrip("/") or "/", concrete + "/", concrete + "/extra"]
    return [*sorted(set(paths)), "/v2", "/v2/", "/v2/unknown/x", "/unknown", "/static/app.js", ""]


def _chosen(candidates: list[BaseRoute], path: str, method: str) -> tuple[BaseRoute | None, Match]:
    """The route Starlette's loop takes: the first full match, else the first partial one."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
    partial = None
    for route in candidates:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route, Match.FULL
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial, Match.PARTIAL if partial else Match.NONE


@pytest.mark.parametrize("method", METHODS)
def test_each_path_goes_to_the_route_starlette_would_take(method: str) -> None:
    table = routes()
    indexed = IndexedRouter(table)
    for path in _paths():
        candidates = indexed.router_for(path).routes
        assert _chosen(candidates, path, method) == _chosen(table, path, method), (method, path)


def test_a_path_tries_a_fraction_of_the_routes() -> None:
    indexed = IndexedRouter(routes())
    record = indexed.router_for("/v2/key-value-stores/x1/records/OUTPUT")
    assert 0 < len(record.routes) < len(indexed.routes) / 10
