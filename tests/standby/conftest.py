"""Standby runs hold a worker each for as long as they live: the standby tests get a Greenroom of
their own (its own Redis prefix and workers, the suite's database), so that the runs they start
never hold up the other tests' runs on the shared stack, and graceful stops take 2 s, not 30. One
per test process while it runs this package's tests, shared by its modules; stopped after them, not
at the session's end, where its database connections counted against PostgreSQL's 100 for the rest
of the session (a slow `make test` ran out of them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from server.settings import Settings
from tests.stack import Stack, free_port, running


@pytest.fixture(scope="package")
def stack(settings: Settings) -> Iterator[Stack]:
    own = settings.with_(
        redis_prefix=f"gr-standby-{uuid.uuid4().hex[:8]}", port=free_port(), abort_grace_s=2.0
    )
    with running(own, workers=3) as greenroom:
        yield greenroom
