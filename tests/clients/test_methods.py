"""Every public method of the official clients (Python apify-client sync and async, npm apify-client),
found by introspection, is in the table (tests/clients/methods.py); each row that works is called on a
real Greenroom by each client and its result checked; pending rows are expected failures until their
operation is merged; METHODS.md is the table as rendered now."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from apify_client import ApifyClient, ApifyClientAsync

from server.settings import Settings
from server.storage.db import SyncDatabase
from tests.clients.methods import FACTORIES, METHODS_MD, TABLE, js_methods, listed, python_methods, render
from tests.clients.rows import Absent, Pending, Row
from tests.clients.runner import FAILED, Flavours, Outcomes, called, run_flavour, shared
from tests.npm import JS_DIR, NODE, NPM, npm_installed
from tests.stack import Stack

needs_node = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are not on PATH: the JS apify-client check is optional"
)


def _marks(r: Row) -> list[Any]:
    if isinstance(r.status, Pending):
        return [pytest.mark.xfail(reason=r.status.operation, strict=False)]
    return []


def _params(flavour: str) -> list[Any]:
    return [pytest.param(r, id=r.key, marks=_marks(r)) for r in called(flavour)]


def _diff(found: set[str], table: set[str]) -> str:
    return (
        f"not in the table: {sorted(found - table)}; in the table, not in the client: {sorted(table - found)}"
    )


def test_every_python_method_is_in_the_table() -> None:
    for root in (ApifyClient, ApifyClientAsync):
        methods, factories = python_methods(root)
        assert methods == listed("py"), _diff(methods, listed("py"))
        assert factories == FACTORIES["py"], _diff(factories, FACTORIES["py"])


@needs_node
@pytest.mark.timeout(300)
def test_every_js_method_is_in_the_table() -> None:
    assert NODE is not None
    npm_installed(JS_DIR)
    methods, factories = js_methods(NODE)
    assert methods == listed("js"), _diff(methods, listed("js"))
    assert factories == FACTORIES["js"], _diff(factories, FACTORIES["js"])


def test_rows_are_unique_and_complete() -> None:
    assert [k for k, n in Counter(r.key for r in TABLE).items() if n > 1] == []
    for r in TABLE:
        if isinstance(r.status, Absent):
            assert r.call is None and r.js_body is None, f"{r.key}: not provided, yet called"
        else:
            assert (r.call is not None) == (r.py is not None), f"{r.key}: the Python call"
            assert (r.js_body is not None) == (r.js is not None), f"{r.key}: the JS call"
            assert r.expect is not None, f"{r.key}: nothing to check"


def test_methods_md_is_the_table() -> None:
    assert METHODS_MD.read_text() == render(), "stale: run `.venv/bin/python -m tests.clients.methods`"


@pytest.fixture(scope="module")
def outcomes(
    stack: Stack,
    db: SyncDatabase,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Flavours:
    """Per flavour, computed on first use, once per backend across the session's workers."""
    base = tmp_path_factory.getbasetemp()
    backend = settings.database_url.split(":")[0].split("+")[0]

    def compute(flavour: str) -> Outcomes:
        if flavour == "js":
            npm_installed(JS_DIR)
        return shared(
            base.parent if hasattr(request.config, "workerinput") else base,  # xdist: shared by workers
            f"methods-{backend}-{flavour}",
            lambda: run_flavour(flavour, stack, db, NODE),
        )

    return Flavours(compute)


def _check(outcomes: Flavours, flavour: str, r: Row) -> None:
    seen = outcomes[flavour]
    got = seen.get(FAILED) or seen[r.key]
    assert got["ok"], got["error"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("r", _params("py"))
def test_python(outcomes: Flavours, r: Row) -> None:
    _check(outcomes, "py", r)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("r", _params("async"))
def test_python_async(outcomes: Flavours, r: Row) -> None:
    _check(outcomes, "async", r)


@needs_node
@pytest.mark.timeout(600)
@pytest.mark.parametrize("r", _params("js"))
def test_js(outcomes: Flavours, r: Row) -> None:
    _check(outcomes, "js", r)
