"""SIGTERM to an API process answers every held request before it exits; the runs go on."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack, free_port

RUN_S = 4.0


def _poll_status(api: httpx.Client, run_id: str, want: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        run = api.get(f"/actor-runs/{run_id}").json()["data"]
        if run["status"] == want or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_sigterm_answers_held_requests_and_runs_go_on(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    url = stack.start_api(replace(stack.settings, port=free_port()))
    proc = stack.processes[-1]
    actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
    started = api.post(f"/acts/{actor['id']}/runs", json={"seconds": RUN_S}).json()["data"]
    _poll_status(api, started["id"], "RUNNING")
    headers = {"Authorization": f"Bearer {account.token}"}
    with (
        httpx.Client(base_url=f"{url}/v2", headers=headers, timeout=60) as held,
        ThreadPoolExecutor(3) as pool,
    ):
        run_sync = pool.submit(held.post, f"/acts/{actor['id']}/run-sync", json={"seconds": RUN_S})
        waiting = pool.submit(held.get, f"/actor-runs/{started['id']}", params={"waitForFinish": 60})
        log = pool.submit(held.get, f"/actor-runs/{started['id']}/log", params={"stream": 1})
        time.sleep(0.5)  # all three are held by now
        assert not (run_sync.done() or waiting.done() or log.done())
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        answered = [f.result(timeout=RUN_S) for f in (run_sync, waiting, log)]
        answered_s = time.monotonic() - signalled
        # uvicorn re-raises the signal once its graceful shutdown is done, as a process manager expects.
        assert proc.wait(timeout=RUN_S) == -signal.SIGTERM
    assert answered_s < RUN_S / 2, answered_s  # answered at once, not when the runs end
    sync_response, wait_response, log_response = answered
    assert sync_response.status_code == 408
    assert sync_response.json()["error"]["type"] == "run-timeout-exceeded"
    assert "stopping" in sync_response.json()["error"]["message"]
    assert wait_response.status_code == 200 and wait_response.json()["data"]["status"] == "RUNNING"
    assert log_response.status_code == 200
    # The runs were left running, not failed: they end on their own, seen through the other API.
    assert _poll_status(api, started["id"], "SUCCEEDED")["status"] == "SUCCEEDED"
    runs = api.get(f"/acts/{actor['id']}/runs").json()["data"]["items"]
    assert len(runs) == 2
    assert all(_poll_status(api, r["id"], "SUCCEEDED")["status"] == "SUCCEEDED" for r in runs)
