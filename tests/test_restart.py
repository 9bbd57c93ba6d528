"""restartOnError: a failed actor is started again (at most 3 times in 60 s), in the same run."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import redis

from server.events import finished_channel
from server.settings import Settings
from tests.actors import callable_actor


def _actor(api: httpx.Client, name: str, target: str, **run_options: Any) -> dict[str, Any]:
    response = api.post("/acts", json=callable_actor(name, target, **run_options))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _items(api: httpx.Client, run: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/datasets/{run['defaultDatasetId']}/items").json()
    return items


class _FinishedMessages:
    """Counts run-finished messages for one run id (the wake-ups waiters get)."""

    def __init__(self, settings: Settings):
        self._pubsub = redis.Redis.from_url(settings.redis_url).pubsub()  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(finished_channel(settings.redis_prefix))
        self._pubsub.get_message(timeout=5)  # the subscribe confirmation
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                self.seen.append(message["data"].decode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pubsub.close()


def test_a_failing_actor_is_restarted_three_times_then_fails(api: httpx.Client, settings: Settings) -> None:
    actor = _actor(api, "always-fails", "fail_until")
    messages = _FinishedMessages(settings)
    try:
        run = api.post(
            f"/acts/{actor['id']}/runs", params={"restartOnError": "true", "waitForFinish": 60}
        ).json()["data"]
        time.sleep(0.3)  # a message published late would still arrive
    finally:
        messages.close()
    # The waiter woke once, at the true end: FAILED with every restart counted.
    assert run["status"] == "FAILED", run
    assert run["stats"]["restartCount"] == 3
    assert run["exitCode"] == 91
    assert run["options"]["restartOnError"] is True
    assert messages.seen.count(run["id"]) == 1
    # Four attempts in the same run, with the same storages.
    assert [item["attempt"] for item in _items(api, run)] == [1, 2, 3, 4]
    log = api.get(f"/actor-runs/{run['id']}/log").text
    assert log.count("Restarting the Actor (restartOnError") == 3
    assert "restart 3)" in log and log.count("attempt 4 fails") == 1


def test_a_restart_that_succeeds_ends_the_run_succeeded(api: httpx.Client) -> None:
    """restartOnError from the actor's defaultRunOptions; the second restart succeeds."""
    actor = _actor(api, "third-time-lucky", "fail_until", restartOnError=True)
    response = api.post(f"/acts/{actor['id']}/run-sync", json={"succeed_on": 3})
    assert response.status_code == 201, response.text
    assert response.json() == {"attempts": 3}
    run = api.get(f"/acts/{actor['id']}/runs/last").json()["data"]
    assert run["status"] == "SUCCEEDED" and run["exitCode"] == 0
    assert run["stats"]["restartCount"] == 2
    assert run["statusMessage"] == "Actor finished with exit code 0"


def test_a_task_option_turns_restarts_on(api: httpx.Client) -> None:
    actor = _actor(api, "task-restarts", "fail_until")
    task = api.post(
        "/actor-tasks",
        json={"actId": actor["id"], "name": "restarting", "options": {"restartOnError": True}},
    )
    assert task.status_code == 201, task.text
    run = api.post(
        f"/actor-tasks/{task.json()['data']['id']}/runs", params={"waitForFinish": 60}, json={"succeed_on": 2}
    ).json()["data"]
    assert run["status"] == "SUCCEEDED" and run["stats"]["restartCount"] == 1


def test_without_restart_on_error_a_failure_ends_the_run(api: httpx.Client) -> None:
    actor = _actor(api, "no-restarts", "fail_until")
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}).json()["data"]
    assert run["status"] == "FAILED" and run["stats"]["restartCount"] == 0
    assert len(_items(api, run)) == 1


def test_a_timeout_is_not_restarted(api: httpx.Client) -> None:
    actor = _actor(api, "slow-restarter", "sleep", restartOnError=True)
    run = api.post(
        f"/acts/{actor['id']}/runs", params={"timeout": 1, "waitForFinish": 60}, json={"seconds": 30}
    ).json()["data"]
    assert run["status"] == "TIMED-OUT" and run["stats"]["restartCount"] == 0


def test_running_out_of_memory_is_restarted_too(api: httpx.Client) -> None:
    actor = _actor(api, "oom-restarter", "memory_hog", restartOnError=True)
    run = api.post(
        f"/acts/{actor['id']}/runs", params={"memory": 128, "waitForFinish": 60}, json={"mb": 512}
    ).json()["data"]
    assert run["status"] == "FAILED" and run["stats"]["restartCount"] == 3
    assert run["statusMessage"] == "The Actor ran out of memory (limit 128 MB)"
