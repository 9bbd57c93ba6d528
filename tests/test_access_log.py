"""The API's access log and the workers' run lines, read from the processes' stderr: one line per
request with its route, status, user and run, never a token (not even a `?token=`); `json` parses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import ROOT, child_env, free_port, wait_until_serving

RUN_ROUTE = "/v2/actor-runs/{runId}"


@contextmanager
def _started(args: list[str], settings: Settings, stderr: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Greenroom process whose stderr goes to a file, read by the test once it has stopped."""
    with stderr.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args], env=child_env(settings), cwd=ROOT, stderr=sink
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def _requests(url: str, token: str) -> tuple[str, str]:
    """A run started with a Bearer token, then read with the token in the query; (run id, actor id)."""
    bearer = {"Authorization": f"Bearer {token}"}
    actor = httpx.post(f"{url}/v2/acts", json=callable_actor("logged", "noop"), headers=bearer).json()["data"]
    run = httpx.post(
        f"{url}/v2/acts/{actor['id']}/runs", params={"waitForFinish": 30}, headers=bearer, timeout=60
    ).json()["data"]
    assert run["status"] == "SUCCEEDED"
    assert httpx.get(f"{url}/v2/actor-runs/{run['id']}", params={"token": token}).status_code == 200
    assert httpx.get(f"{url}/v2/users/me", params={"token": "not-a-token"}).status_code == 401
    return run["id"], actor["id"]


def _own(settings: Settings, log_format: str) -> Settings:
    """Its own queue, so the run is taken by the worker pool started here (whose lines are read)."""
    return replace(
        settings,
        port=free_port(),
        proxy_port=0,
        redis_prefix=f"gr-log-{uuid.uuid4().hex[:8]}",
        webhook_worker_processes=0,
        log_format=log_format,
    )


def test_json_lines_name_route_status_user_and_run_and_never_the_token(
    settings: Settings, account: Account, tmp_path: Path
) -> None:
    own = _own(settings, "json")
    api_err, pool_err = tmp_path / "api.stderr", tmp_path / "pool.stderr"
    with _started(["worker", "--processes", "1"], own, pool_err), _started(["serve"], own, api_err) as api:
        wait_until_serving(own.api_base_url, api)
        run_id, actor_id = _requests(own.api_base_url, account.token)
    api_text, pool_text = api_err.read_text(), pool_err.read_text()
    assert account.token not in api_text and "not-a-token" not in api_text
    assert account.token not in pool_text
    lines = [json.loads(line) for line in api_text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "greenroom.access"]

    def one(method: str, route: str, status: int) -> dict[str, Any]:
        found = [x for x in access if (x["method"], x["route"], x["status"]) == (method, route, status)]
        assert len(found) == 1, (method, route, status, access)
        return found[0]

    started = one("POST", "/v2/acts/{actorId}/runs", 201)
    assert started["user_id"] == account.user_id and started["run_id"] == run_id
    assert started["path"] == f"/v2/acts/{actor_id}/runs"
    assert started["duration_ms"] >= 0 and started["level"] == "INFO"
    read = one("GET", RUN_ROUTE, 200)
    assert read["user_id"] == account.user_id and read["run_id"] == run_id
    assert read["path"] == f"/v2/actor-runs/{run_id}"  # the path only: no query string
    # wait_until_serving asked users/me with no token too: every refusal has no user.
    refused = [x for x in access if x["route"] == "/v2/users/me"]
    assert refused and all(x["status"] == 401 and "user_id" not in x for x in refused)
    # The worker's lines about the run carry its id.
    runs = [json.loads(line) for line in pool_text.splitlines() if line.startswith("{")]
    about = [line for line in runs if line.get("run_id") == run_id]
    assert [line["message"] for line in about] == ["run started", "run finished"]
    assert about[-1]["status"] == "SUCCEEDED"


def test_text_lines_read_as_one_line_each(settings: Settings, account: Account, tmp_path: Path) -> None:
    own = _own(settings, "text")
    api_err, pool_err = tmp_path / "api.stderr", tmp_path / "pool.stderr"
    with _started(["worker", "--processes", "1"], own, pool_err), _started(["serve"], own, api_err) as api:
        wait_until_serving(own.api_base_url, api)
        run_id, _ = _requests(own.api_base_url, account.token)
    api_text = api_err.read_text()
    assert account.token not in api_text and "not-a-token" not in api_text
    read = [line for line in api_text.splitlines() if f"GET /v2/actor-runs/{run_id} 200 " in line]
    assert len(read) == 1
    assert " INFO greenroom.access " in read[0]
    assert f"route={RUN_ROUTE} " in read[0] and f"user_id={account.user_id}" in read[0]
    assert read[0].endswith(f"run_id={run_id}")
    finished = [line for line in pool_err.read_text().splitlines() if "run finished" in line]
    assert len(finished) == 1 and f"run_id={run_id}" in finished[0] and "status=SUCCEEDED" in finished[0]
