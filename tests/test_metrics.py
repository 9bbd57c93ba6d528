"""GET /metrics on real API and worker processes: counters and histograms move with runs and
requests (added up across the processes), the SQL facts are right, and only the token reads it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account
from tests.scrape import Samples, scrape, value
from tests.stack import Stack, free_port, running

RUNS_ROUTE = "/v2/acts/{actorId}/runs"


def _until(url: str, done: Callable[[Samples], bool], timeout_s: float = 10) -> Samples:
    """The worker counts a run's end just after it publishes it: a scrape may come first."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(url)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def test_another_app_on_the_same_settings_keeps_the_apis_counts(
    stack: Stack, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another app made on the same settings on this host (a second API process behind a proxy, or
    tests/test_logs.py's in-process API) emptied the running API's metric files: its counts were
    gone from /metrics for good (the full suite's test_runs_and_requests_are_counted saw 0)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # create_app sets it here
    me = {"route": "/v2/users/me", "method": "GET", "status": "200"}
    before = value(scrape(stack.url), "greenroom_http_requests_total", **me)
    assert api.get("/users/me").status_code == 200
    create_app(stack.settings)
    assert api.get("/users/me").status_code == 200
    assert value(scrape(stack.url), "greenroom_http_requests_total", **me) - before == 2


def test_runs_and_requests_are_counted(stack: Stack, api: httpx.Client) -> None:
    before = scrape(stack.url)
    ok = api.post("/acts", json=callable_actor("counted-ok", "noop")).json()["data"]
    bad = api.post("/acts", json=callable_actor("counted-bad", "fail")).json()["data"]
    for actor, status in ((ok, "SUCCEEDED"), (bad, "FAILED")):
        run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
        assert run["status"] == status

    def moved(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    after = _until(
        stack.url, lambda s: moved(s, "greenroom_runs_finished_total", status="FAILED", origin="API") >= 1
    )
    assert moved(after, "greenroom_runs_started_total", origin="API") >= 2
    assert moved(after, "greenroom_runs_finished_total", status="SUCCEEDED", origin="API") >= 1
    assert moved(after, "greenroom_runs_finished_total", status="FAILED", origin="API") >= 1
    assert moved(after, "greenroom_run_duration_seconds_count", status="SUCCEEDED") >= 1
    assert moved(after, "greenroom_run_queue_wait_seconds_count") >= 2
    assert moved(after, "greenroom_run_queue_wait_seconds_bucket", le="+Inf") >= 2
    # Requests by the route's template, never the URL.
    assert moved(after, "greenroom_http_requests_total", route=RUNS_ROUTE, method="POST", status="201") == 2
    assert moved(after, "greenroom_http_requests_total", route="/v2/acts", method="POST", status="201") == 2
    assert moved(after, "greenroom_http_request_duration_seconds_count", route=RUNS_ROUTE, method="POST") == 2
    assert not any("route" in dict(labels) and ok["id"] in dict(labels)["route"] for _, labels in after)
    api.get("/no/such/page")
    after_404 = scrape(stack.url)
    assert (
        moved(after_404, "greenroom_http_requests_total", route="unmatched", method="GET", status="404") >= 1
    )
    # The stack's pool: two run workers, and its webhook workers (a fresh pool may still be starting).
    webhook_workers = stack.settings.webhook_worker_processes

    def started(s: Samples) -> bool:
        workers = (value(s, "greenroom_worker_processes", queue=q) for q in ("runs", "webhooks"))
        return tuple(workers) == (2, webhook_workers)

    pool = _until(stack.url, started)
    assert value(pool, "greenroom_worker_processes", queue="runs") == 2
    assert value(pool, "greenroom_worker_processes", queue="webhooks") == webhook_workers


def test_facts_from_sql_with_no_worker(isolated_settings: Settings, isolated_account: Account) -> None:
    """Runs READY on a queue no worker takes: waiting, with an age; held requests counted by kind."""
    own = replace(isolated_settings, run_sync_wait_s=3.0)  # the held run-sync gets its 408 soon
    with running(own, workers=0) as greenroom, greenroom.client(isolated_account.token) as api:
        empty = scrape(greenroom.url)
        assert value(empty, "greenroom_runs_waiting") == 0
        assert value(empty, "greenroom_oldest_waiting_run_age_seconds") == 0
        actor = api.post("/acts", json=callable_actor("waits", "noop")).json()["data"]
        run = api.post(f"/acts/{actor['id']}/runs").json()["data"]
        assert run["status"] == "READY"
        held = [
            threading.Thread(
                target=api.get, args=(f"/actor-runs/{run['id']}",), kwargs={"params": {"waitForFinish": 3}}
            ),
            threading.Thread(target=api.post, args=(f"/acts/{actor['id']}/run-sync",)),
        ]
        for thread in held:
            thread.start()
        time.sleep(0.5)
        samples = scrape(greenroom.url)
        for thread in held:
            thread.join()
        after = scrape(greenroom.url)
        # A run aborted while READY ends without a worker: it is counted as finished all the same.
        assert api.post(f"/actor-runs/{run['id']}/abort").json()["data"]["status"] == "ABORTED"
        aborted = scrape(greenroom.url)
    assert value(aborted, "greenroom_runs_finished_total", status="ABORTED", origin="API") == 1
    assert value(samples, "greenroom_runs_waiting") == 2  # the run-sync's own run too
    assert value(samples, "greenroom_runs_running") == 0
    assert 0.3 < value(samples, "greenroom_oldest_waiting_run_age_seconds") < 30
    assert value(samples, "greenroom_worker_processes", queue="runs") == 0
    assert value(samples, "greenroom_held_requests", kind="waitForFinish") == 1
    assert value(samples, "greenroom_held_requests", kind="run-sync") == 1
    assert value(after, "greenroom_held_requests", kind="waitForFinish") == 0
    assert value(after, "greenroom_held_requests", kind="run-sync") == 0
    builds = {
        dict(labels)["status"]: v for (name, labels), v in samples.items() if name == "greenroom_builds"
    }
    assert sum(builds.values()) >= 1, "the actor's build is counted"


def test_only_the_metrics_token_reads_them(settings: Settings) -> None:
    own = replace(settings, port=free_port(), metrics_token="scrape-secret")
    with running(own, workers=0) as greenroom:
        url = f"{greenroom.url}/metrics"
        none = httpx.get(url)
        wrong = httpx.get(url, headers={"Authorization": "Bearer not-it"})
        in_query = httpx.get(url, params={"token": "scrape-secret"})
        right = httpx.get(url, headers={"Authorization": "Bearer scrape-secret"})
    assert none.status_code == 401 and none.json()["error"]["type"] == "token-not-provided"
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "user-or-token-not-found"
    assert in_query.status_code == 401, "the metrics token is a header only: never in a URL"
    assert right.status_code == 200
    assert right.headers["content-type"].startswith("text/plain")
    assert "greenroom_runs_waiting" in right.text


def _outward_address() -> str | None:
    """This machine's address on its way out (no packet is sent), if it has one beside loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_without_a_token_only_loopback_reads_them(settings: Settings) -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    own = replace(settings, host="0.0.0.0", port=free_port())
    with running(own, workers=0):
        near = httpx.get(f"http://127.0.0.1:{own.port}/metrics")
        far = httpx.get(f"http://{address}:{own.port}/metrics")
    assert near.status_code == 200
    assert far.status_code == 403
    assert "GREENROOM_METRICS_TOKEN" in far.json()["error"]["message"]
