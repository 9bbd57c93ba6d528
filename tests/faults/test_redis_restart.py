"""Redis restarted (its data gone) while run-sync requests wait and runs sit in the queue, and a run
started while Redis is down: every waiter gets its run's true end, and no run is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

import pytest

from server.embedded_redis import EmbeddedRedis
from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack, running

HELD = 12
RUN_S = 0.5


@pytest.fixture
def restartable(isolated_settings: Settings, tmp_path: Path) -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """A Greenroom of its own on a private redis-server that the test may stop and start again."""
    redis = EmbeddedRedis(tmp_path)
    url = redis.start()
    own = replace(
        isolated_settings,
        redis_url=url,
        orphan_after_s=1.5,
        sweep_interval_s=0.3,
    )
    try:
        with running(own, workers=2) as stack:
            yield stack, redis
    finally:
        redis.stop()


def test_waiters_and_queued_runs_survive_a_redis_restart(
    restartable: tuple[Stack, EmbeddedRedis], isolated_account: Account
) -> None:
    stack, redis = restartable
    with stack.client(isolated_account.token) as api, ThreadPoolExecutor(HELD) as pool:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        held = [
            pool.submit(api.post, f"/acts/{actor['id']}/run-sync", json={"seconds": RUN_S})
            for _ in range(HELD)
        ]
        time.sleep(0.3)  # two runs going, the rest waiting in the queue that the restart empties
        redis.stop()
        # A run started while Redis is down is committed and answered; its job comes later.
        during = api.post(f"/acts/{actor['id']}/runs", json={"seconds": RUN_S})
        assert during.status_code == 201, during.text
        assert during.json()["data"]["status"] == "READY"
        time.sleep(1.0)
        redis.start()
        _, waiting = wait(held, timeout=45)
        runs = api.get(f"/acts/{actor['id']}/runs", params={"limit": 100}).json()["data"]["items"]
        assert not waiting, (
            f"{len(waiting)} run-syncs unanswered; runs: {[(r['id'], r['status']) for r in runs]}"
        )
        answers = [f.result() for f in held]
        assert [a.status_code for a in answers] == [201] * HELD, [a.text for a in answers]
        assert all(a.json() == {"slept": RUN_S} for a in answers)
        deadline = time.monotonic() + 30
        while (run := api.get(f"/actor-runs/{during.json()['data']['id']}").json()["data"])[
            "status"
        ] != "SUCCEEDED":
            assert time.monotonic() < deadline, run
            time.sleep(0.1)
        runs = api.get(f"/acts/{actor['id']}/runs", params={"limit": 100}).json()["data"]
        assert runs["total"] == HELD + 1
        assert {r["status"] for r in runs["items"]} == {"SUCCEEDED"}
