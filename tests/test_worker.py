"""The worker: at-most-once execution, timeouts that kill the whole process group, crashes contained."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from server.events import started_channel
from server.queue import enqueue_run_sync, make_queue
from server.settings import Settings
from server.storage.db import SyncDatabase
from server.storage.models import DatasetItem
from tests.actors import callable_actor, files_actor
from tests.conftest import Account
from tests.procs import alive
from tests.stack import free_port, worker_here
from worker import jobs, shutdown
from worker.main import new_worker
from worker.runners.standby import Kind, Standby, Standbys, standbys


@pytest.fixture
def quiet(settings: Settings, account: Account) -> Iterator[tuple[Settings, httpx.Client]]:
    """An API process on a queue no worker consumes: the test runs the worker itself, here
    (tests.stack.worker_here says why the API is not in this process)."""
    quiet_settings = replace(settings, redis_prefix=f"gr-quiet-{uuid.uuid4().hex[:8]}", port=free_port())
    with worker_here(quiet_settings, account.token, restore=settings) as api:
        yield quiet_settings, api


def test_job_delivered_twice_runs_the_actor_once(
    quiet: tuple[Settings, httpx.Client], db: SyncDatabase
) -> None:
    settings, api = quiet
    actor = api.post("/acts", json=callable_actor("once", "count_once")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
    assert run["status"] == "READY"
    connection = Redis.from_url(settings.redis_url)
    queue = make_queue(connection, settings.queue_name)
    enqueue_run_sync(queue, run["id"])  # the same job, delivered a second time
    assert queue.count == 2
    new_worker([queue], connection).work(burst=True, with_scheduler=False)
    connection.close()
    finished = api.get(f"/actor-runs/{run['id']}").json()["data"]
    assert finished["status"] == "SUCCEEDED"
    with db.transaction() as session:
        count_stmt = select(func.count()).where(DatasetItem.dataset_id == run["defaultDatasetId"])
        assert session.execute(count_stmt).scalar_one() == 1


def test_a_run_started_wake_up_lost_to_redis_does_not_fail_the_run(
    quiet: tuple[Settings, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis restarting just after a worker's claim: the wake-up is lost (a start waiting for the
    claim reads SQL when its wait ends), the run goes on."""

    def redis_away(*args: object) -> None:
        raise RedisConnectionError("Redis is restarting")

    monkeypatch.setattr(jobs, "publish_run_started", redis_away)
    settings, api = quiet
    actor = api.post("/acts", json=callable_actor("started", "count_once")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
    connection = Redis.from_url(settings.redis_url)
    queue = make_queue(connection, settings.queue_name)
    new_worker([queue], connection).work(burst=True, with_scheduler=False)
    connection.close()
    assert api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] == "SUCCEEDED"


def test_a_claim_is_announced_only_for_a_start_that_waits_for_it(
    quiet: tuple[Settings, httpx.Client],
) -> None:
    """The worker publishes run-started for a start that waits for the claim (POST .../runs without
    waitForFinish answers RUNNING once a worker took the run), not for a run-sync or a waitForFinish
    start, whose waiters only a run-finished wakes: one Redis round trip less on their run's path,
    and one message less for every API process."""
    settings, api = quiet
    actor = api.post("/acts", json=callable_actor("announced", "noop")).json()["data"]
    connection = Redis.from_url(settings.redis_url)
    pubsub = connection.pubsub()
    pubsub.subscribe(started_channel(settings.redis_prefix))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    waited = api.post(f"/acts/{actor['id']}/runs?waitForFinish=1").json()["data"]
    claimed = api.post(f"/acts/{actor['id']}/runs").json()["data"]  # waits 2 s for a worker: none here
    assert (waited["status"], claimed["status"]) == ("READY", "READY")
    new_worker([make_queue(connection, settings.queue_name)], connection).work(
        burst=True, with_scheduler=False
    )
    for run in (waited, claimed):
        assert api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] == "SUCCEEDED"
    announced = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        announced.append(message["data"].decode())
    pubsub.close()
    connection.close()
    assert announced == [claimed["id"]]


def test_a_start_with_jobs_ahead_of_it_is_answered_at_once(quiet: tuple[Settings, httpx.Client]) -> None:
    """A start waits up to 2 s for a worker to take its run (`apify actors start` reads the status
    at once). A run whose job has others ahead of it in the queue has no idle worker to go to: it is
    answered READY at once. It used to wait out the 2 s, so a flood of starts went at the workers'
    pace. (No worker takes jobs here.)"""
    _settings, api = quiet
    actor = api.post("/acts", json=callable_actor("queued", "count_once")).json()["data"]
    answers = []
    for _ in range(2):
        began = time.monotonic()
        run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
        answers.append((run["status"], time.monotonic() - began))
    (first, first_s), (second, second_s) = answers
    assert (first, second) == ("READY", "READY")
    assert first_s >= 2.0  # alone in the queue: it waited for a worker, which did not come
    assert second_s < 2.0, second_s


def test_a_stop_while_the_next_standby_is_made_stops_the_worker(
    quiet: tuple[Settings, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM between jobs, while the worker makes the next run's actor process. It used to be
    taken for a failed fork: the worker went back to its queue, took the next job and waited on
    until its pool killed it (19 s teardowns in the suite)."""
    settings, api = quiet
    make = Standbys._make

    def stopped_while_making(self: Standbys, kind: Kind) -> Standby:
        monkeypatch.setattr(Standbys, "_make", make)  # once
        os.kill(os.getpid(), signal.SIGTERM)  # RQ's handler runs here, in the main thread
        return make(self, kind)

    actor = api.post("/acts", json=callable_actor("two", "count_once")).json()["data"]
    first, second = (api.post(f"/acts/{actor['id']}/runs").json()["data"] for _ in range(2))
    connection = Redis.from_url(settings.redis_url)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    standbys().enable()
    standbys().refill()  # the first run's, so that the next one is made between the jobs
    monkeypatch.setattr(Standbys, "_make", stopped_while_making)
    monkeypatch.setattr(shutdown, "_current", None)  # this test's stop, not the next one's
    try:
        worker = new_worker([make_queue(connection, settings.queue_name)], connection)
        worker.worker_ttl = 17  # a worker that went back to its queue gives up waiting after 2 s
        worker.work(with_scheduler=False)
    finally:
        standbys().close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        connection.close()
    assert api.get(f"/actor-runs/{first['id']}").json()["data"]["status"] == "SUCCEEDED"
    assert api.get(f"/actor-runs/{second['id']}").json()["data"]["status"] == "READY"


def test_callable_timeout_kills_actor_and_grandchildren(api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("forker", "write_pid_then_sleep")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"timeout": 1, "waitForFinish": 30}).json()["data"]
    assert run["status"] == "TIMED-OUT"
    assert run["statusMessage"] == "Actor run timed out"
    pids = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/PIDS").json()
    deadline = time.monotonic() + 3
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pids["actor"]) and not alive(pids["grandchild"])
    log = api.get(f"/actor-runs/{run['id']}/log").text
    line = next(line for line in log.splitlines() if "reached its timeout of 1 seconds" in line)
    # Measured from the timeout, not from the request: a fresh stack's workers may still be starting.
    timed_out_at = datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
    finished_at = datetime.fromisoformat(run["finishedAt"].replace("Z", "+00:00"))
    assert (finished_at - timed_out_at).total_seconds() < 1.0 + 1  # the kill grace + slack


def test_process_actor_timeout(api: httpx.Client) -> None:
    script = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"
    actor = api.post("/acts", json=files_actor("slowproc", {"main.py": script})).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"timeout": 1, "waitForFinish": 30}).json()["data"]
    assert run["status"] == "TIMED-OUT"
    assert "sleeping" in api.get(f"/actor-runs/{run['id']}/log").text


def test_hard_crash_fails_the_run_and_the_worker_goes_on(api: httpx.Client) -> None:
    crasher = api.post("/acts", json=callable_actor("crasher", "abort_hard")).json()["data"]
    run = api.post(f"/acts/{crasher['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "FAILED"
    assert run["exitCode"] == 128 + 6  # SIGABRT
    echo = api.post("/acts", json=callable_actor("after-crash", "echo")).json()["data"]
    assert api.post(f"/acts/{echo['id']}/run-sync", json={"still": "alive"}).status_code == 201


def test_unstartable_actor_fails_with_a_message(api: httpx.Client) -> None:
    actor = api.post("/acts", json=files_actor("nostart", {"README.md": "no code here"})).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "FAILED"
    assert run["statusMessage"].startswith("The actor could not be started")
    assert "No start command" in api.get(f"/actor-runs/{run['id']}/log").text


def test_a_start_command_that_cannot_be_executed_fails_the_run_and_the_worker_goes_on(
    api: httpx.Client,
) -> None:
    files = {"main.py": "print('never')"}
    actor = api.post("/acts", json=files_actor("noexec", files, startCommand="no-such-program --flag")).json()
    run = api.post(f"/acts/{actor['data']['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "FAILED"
    assert run["statusMessage"] == (
        "The actor could not be started: [Errno 2] No such file or directory: 'no-such-program'"
    )
    echo = api.post("/acts", json=callable_actor("after-noexec", "echo")).json()["data"]
    assert api.post(f"/acts/{echo['id']}/run-sync", json={"still": "alive"}).json() == {
        "input": {"still": "alive"}
    }


def test_start_command_and_dockerfile_cmd(api: httpx.Client) -> None:
    write = (
        "import os, json, urllib.request\n"
        "b=os.environ['APIFY_API_BASE_URL']; s=os.environ['ACTOR_DEFAULT_KEY_VALUE_STORE_ID']\n"
        "body = json.dumps({'by': os.path.basename(__file__)}).encode()\n"
        "h = {'Authorization': 'Bearer ' + os.environ['APIFY_TOKEN'], 'Content-Type': 'application/json'}\n"
        "u = f'{b}/v2/key-value-stores/{s}/records/OUTPUT'\n"
        "r = urllib.request.Request(u, data=body, method='PUT', headers=h)\n"
        "urllib.request.urlopen(r)\n"
    )
    docker = files_actor(
        "dockery",
        {
            "run.py": write,
            "main.py": "raise SystemExit(5)",
            "Dockerfile": 'FROM python:3.11\nCOPY . .\nCMD ["python3", "run.py"]\n',
        },
    )
    explicit = files_actor(
        "explicit", {"other.py": write, "main.py": "raise SystemExit(5)"}, startCommand="python3 other.py"
    )
    for body, expected in ((docker, "run.py"), (explicit, "other.py")):
        actor = api.post("/acts", json=body).json()["data"]
        response = api.post(f"/acts/{actor['id']}/run-sync")
        assert response.status_code == 201, response.text
        assert response.json() == {"by": expected}


def test_run_stats_are_measured(api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("statty", "echo")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED" and run["exitCode"] == 0
    assert run["stats"]["durationMillis"] >= 0
    assert run["stats"]["memMaxBytes"] > 1_000_000
    assert run["finishedAt"] >= run["startedAt"]
