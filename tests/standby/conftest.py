"""Standby runs hold a worker each for as long as they live: the standby tests get a Greenroom of
their own (its own Redis prefix and workers, the suite's database), so that the runs they start
never hold up the other tests' runs on the shared stack, and graceful stops take 2 s, not 30. One
per test process, shared by the standby modules (a start costs seconds)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from server.settings import Settings
from tests.stack import Stack, free_port, running


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    own = settings.with_(
        redis_prefix=f"gr-standby-{uuid.uuid4().hex[:8]}", port=free_port(), abort_grace_s=2.0
    )
    with running(own, workers=3) as greenroom:
        yield greenroom
