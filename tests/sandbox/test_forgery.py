"""What Redis carries cannot be forged into action: a worker acts on an abort only once SQL says the
run is ABORTING, and on a job only if it is JSON naming one of Greenroom's job functions (and the
run or build is READY in SQL). Each test writes to Redis directly, as anyone who reached it could."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue
from rq.job import Job

from server.events import abort_channel
from server.queue import make_queue
from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack, free_port, worker_here
from worker.main import new_worker


def test_a_forged_abort_message_does_not_abort_a_run(stack: Stack, api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("forged-abort", "sleep")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", json={"seconds": 2}).json()["data"]
    channel = abort_channel(stack.settings.redis_prefix, run["id"])
    deadline = time.monotonic() + 10
    while api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with Redis.from_url(stack.settings.redis_url) as redis:
        # Sent until heard: the run's worker listens for aborts (a pattern subscription to every run's
        # channel, made for its first run).
        while redis.publish(channel, "abort") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.5)
    done = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 20}).json()["data"]
    assert done["status"] == "SUCCEEDED"


@pytest.fixture
def quiet(settings: Settings, account: Account) -> Iterator[Settings]:
    """A queue of its own, worked here by the test (no worker process takes its jobs)."""
    own = replace(settings, redis_prefix=f"gr-forge-{uuid.uuid4().hex[:8]}", port=free_port())
    with worker_here(own, account.token, restore=settings):
        yield own


class _Payload:
    """What a pickled job could carry: unpickling it calls os.mkdir."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.path),)


def test_forged_jobs_run_no_code(quiet: Settings, tmp_path: Path) -> None:
    named, pickled = tmp_path / "named", tmp_path / "pickled"
    with Redis.from_url(quiet.redis_url) as redis:
        queue = make_queue(redis, quiet.queue_name)
        # A JSON job naming a function that is not one of Greenroom's.
        forged = queue.enqueue_call("os.mkdir", args=(str(named),))
        # A job in RQ's default (pickle) format, whose loading alone would run code.
        Queue(quiet.queue_name, connection=redis).enqueue_call(
            "worker.jobs.execute_run", args=(_Payload(pickled),)
        )
        new_worker([queue], redis).work(burst=True, with_scheduler=False)
        assert not named.exists() and not pickled.exists()
        failed = Job.fetch(forged.id, connection=redis, serializer=queue.serializer)
        assert failed.get_status() == "failed"
        assert "not a Greenroom job" in (failed.latest_result().exc_string or "")
        assert queue.count == 0  # both taken, and the worker went on
