"""Schemathesis (PyPI) on Apify's OpenAPI spec against a real Greenroom: no answer is a 5xx.

Every operation Greenroom serves that the spec documents (tests/contract/spec.py) gets cases that
schemathesis draws from the spec, in its positive mode (requests the spec calls valid) and its
negative mode (requests that break the spec). Every path parameter is filled from a world
(tests/contract/conftest.py: an actor, a task, a finished run, stores with contents, a webhook and a
dispatch), so a case reaches the handler instead of a 404. DELETEs get a world of their own, so
that deleting the actor does not turn every later case into a 404.

`make test` runs a small deterministic slice (the GET operations, a few negative cases each);
`make fuzz` runs every operation in both modes with GREENROOM_SCHEMATHESIS_EXAMPLES cases each
(default 25) and prints the request and 5xx counts.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.schemas import BaseSchema

from tests.contract.conftest import World, build_world
from tests.contract.requests import path_values
from tests.contract.spec import Operation, covered_operations, path_item
from tests.stack import Stack

OPERATIONS = covered_operations()
QUICK = [op for op in OPERATIONS if op.method == "GET"]
QUICK_EXAMPLES = 2
SOAK_EXAMPLES = int(os.environ.get("GREENROOM_SCHEMATHESIS_EXAMPLES", "25"))


@cache
def _schema() -> BaseSchema:
    """The covered path items of Apify's spec (every $ref inlined) as one schema."""
    paths = {op.spec_path: path_item(op.spec_path) for op in OPERATIONS}
    raw = {"openapi": "3.1.0", "info": {"title": "Apify API (covered part)", "version": "2"}, "paths": paths}
    return schemathesis.openapi.from_dict(raw)


class Tally:
    """Requests and 5xx answers across the module, printed at its end."""

    def __init__(self) -> None:
        self.requests = 0
        self.server_errors: Counter[str] = Counter()


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    if counts.requests:
        errors = sum(counts.server_errors.values())
        line = f"schemathesis: {counts.requests} requests, {errors} answered 5xx"
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n{line} {dict(counts.server_errors) if errors else ''}", flush=True)


def _own_world(stack: Stack, db: Any) -> Iterator[World]:
    w = build_world(stack, db)
    # Not waited for at the end: a soak starts hundreds of runs, which two workers take minutes to
    # drain (past pytest-timeout's 120 s in the next test's setup); they go on as this world's
    # user's, whom no other test looks at.
    try:
        yield w
    finally:
        w.client.close()


@pytest.fixture(scope="module")
def world(stack: Stack, db: Any) -> Iterator[World]:
    yield from _own_world(stack, db)


@pytest.fixture(scope="module")
def delete_world(stack: Stack, db: Any) -> Iterator[World]:
    yield from _own_world(stack, db)


def _run(
    op: Operation,
    world: World,
    stack: Stack,
    tally: Tally,
    modes: list[GenerationMode],
    examples: int,
    derandomize: bool,
) -> None:
    values = path_values(op, world)
    fixed = {theirs: values[mine] for mine, theirs in zip(op.params, op.spec_params, strict=True)}
    operation = _schema()[op.spec_path][op.method]
    headers = {"Authorization": f"Bearer {world.token}"}
    failures: list[str] = []
    for mode in modes:
        strategy = operation.as_strategy(mode, path_parameters=fixed or None)

        @settings(
            max_examples=examples,
            derandomize=derandomize,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=stack.url, headers=headers, timeout=120)
            tally.requests += 1
            if response.status_code >= 500:
                tally.server_errors[op.id] += 1
                failures.append(f"{response.status_code} {case.as_curl_command()}\n{response.text[:300]}")

        # Unsatisfiable: nothing to break, its path parameters being fixed and it having no other.
        with contextlib.suppress(Unsatisfiable):
            check()
    assert not failures, f"{op.id}: {len(failures)} answers were 5xx, e.g.\n" + "\n".join(failures[:3])


def _world(op: Operation, request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("delete_world" if op.method == "DELETE" else "world")


@pytest.mark.parametrize("op", [pytest.param(op, id=op.id) for op in QUICK])
def test_schemathesis_slice(
    op: Operation, stack: Stack, tally: Tally, request: pytest.FixtureRequest
) -> None:
    _run(op, _world(op, request), stack, tally, [GenerationMode.NEGATIVE], QUICK_EXAMPLES, derandomize=True)


@pytest.mark.soak
@pytest.mark.parametrize("op", [pytest.param(op, id=op.id) for op in OPERATIONS])
def test_schemathesis_soak(op: Operation, stack: Stack, tally: Tally, request: pytest.FixtureRequest) -> None:
    if not os.environ.get("GREENROOM_SOAK"):
        pytest.skip("soak: the whole schemathesis run is `make fuzz` (GREENROOM_SOAK=1)")
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    _run(op, _world(op, request), stack, tally, modes, SOAK_EXAMPLES, derandomize=False)
