"""Where the host cannot sandbox: `on` (a worker's default) refuses SOURCE_FILES actors and builds
with the reason, and says so at start; `auto` (`greenroom dev`'s) runs them unsandboxed and says so
loudly; callables run either way. And the limits every run gets: processes and CPU share."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from server.storage.db import SyncDatabase
from tests.actors import callable_actor, files_actor
from tests.conftest import Account, new_account
from tests.rows import snapshot
from tests.stack import running
from worker import sandbox
from worker.sandbox.memory import MemoryLimitUnavailable

WHOAMI = """\
import json, os, urllib.request
b, s = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
r = urllib.request.Request(f"{b}/v2/key-value-stores/{s}/records/OUTPUT", method="PUT",
    data=json.dumps({"uid": os.getuid()}).encode(),
    headers={"Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"})
urllib.request.urlopen(r).close()
"""

# Starts threads (each is a task for pids.max) until it cannot, then says how many it had.
FORK_BOMB = """\
import json, os, threading, time, urllib.request
stop, count = threading.Event(), 0
try:
    while count < 1000:
        threading.Thread(target=stop.wait, daemon=True).start()
        count += 1
except RuntimeError:
    pass
b, s = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
r = urllib.request.Request(f"{b}/v2/key-value-stores/{s}/records/OUTPUT", method="PUT",
    data=json.dumps({"threads": count}).encode(),
    headers={"Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"})
stop.set()
urllib.request.urlopen(r).close()
"""

# A lock directory that cannot be made: the sandbox is unavailable, as on a host without bubblewrap.
NOWHERE = Path("/dev/null/greenroom-uids")


def test_a_worker_says_at_start_when_it_cannot_sandbox(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="worker.sandbox"):
        sandbox.announce(Settings(sandbox="on", sandbox_lock_dir=NOWHERE))
        sandbox.announce(Settings(sandbox="auto", sandbox_lock_dir=NOWHERE))
        sandbox.announce(Settings(sandbox="off"))
    on, auto, off = caplog.records
    assert on.levelno == logging.ERROR and "SOURCE_FILES actors and builds will fail" in on.getMessage()
    assert "the sandbox is not available (" in on.getMessage()  # with the reason: here the lock directory
    assert auto.levelno == logging.WARNING and "NO SANDBOX" in auto.getMessage()
    assert "GREENROOM_SANDBOX=off" in off.getMessage()


def test_no_writable_cgroup_means_no_sandbox_unless_polling_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox_mode: str
) -> None:
    if sandbox_mode == "off":
        pytest.skip("this machine cannot sandbox actors (not root, or no bubblewrap)")

    def no_cgroup(mode: str, *args: object) -> object:
        if mode == "cgroup":
            raise MemoryLimitUnavailable("no writable memory cgroup (v1: read-only)")
        return real(mode, *args)

    real = sandbox.open_memory_limit
    monkeypatch.setattr(sandbox, "open_memory_limit", no_cgroup)
    for mode in ("auto", "cgroup"):
        found = sandbox.probe(Settings(data_dir=tmp_path, memory_limit=mode))
        assert isinstance(found, sandbox.SandboxUnavailable), mode
        assert "no writable memory cgroup (v1: read-only)" in str(
            found
        ) and "GREENROOM_MEMORY_LIMIT=poll" in str(found)
    assert isinstance(sandbox.probe(Settings(data_dir=tmp_path, memory_limit="poll")), sandbox.Sandbox)


@pytest.mark.parametrize("mode", ["on", "auto"])
def test_without_a_sandbox(mode: str, isolated_settings: Settings) -> None:
    own = isolated_settings.with_(sandbox=mode, sandbox_lock_dir=NOWHERE)
    alice = new_account(own)
    with running(own, workers=1) as stack, stack.client(alice.token) as api:
        actor = api.post("/acts", json=files_actor("who", {"main.py": WHOAMI})).json()["data"]
        run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}).json()["data"]
        build = api.get(f"/actor-builds/{run['buildId']}", params={"waitForFinish": 60}).json()["data"]
        build_log = api.get(f"/actor-builds/{run['buildId']}/log").text
        callable_run = api.post(
            f"/acts/{api.post('/acts', json=callable_actor('trusted', 'noop')).json()['data']['id']}/runs",
            params={"waitForFinish": 60},
        ).json()["data"]
        assert callable_run["status"] == "SUCCEEDED"
        if mode == "on":
            assert run["status"] == "FAILED"
            assert "The sandbox is not available on this worker" in run["statusMessage"]
            assert "GREENROOM_SANDBOX=off" in run["statusMessage"]
            assert build["status"] == "FAILED" and "The sandbox is not available" in build_log
        else:
            assert run["status"] == "SUCCEEDED", api.get(f"/actor-runs/{run['id']}/log").text
            store = run["defaultKeyValueStoreId"]
            # Unsandboxed: as the worker's user (this test's).
            assert api.get(f"/key-value-stores/{store}/records/OUTPUT").json() == {"uid": os.getuid()}


def test_a_run_has_a_process_limit_and_a_cpu_share(isolated_settings: Settings) -> None:
    own = isolated_settings.with_(run_pids_max=40, run_cpu_shares=512, memory_limit="auto")
    alice = new_account(own)
    with running(own, workers=1) as stack, stack.client(alice.token) as api:
        limits = api.post("/acts", json=callable_actor("limits", "own_task_limits")).json()["data"]
        seen = api.post(f"/acts/{limits['id']}/run-sync")
        assert seen.status_code == 201, seen.text
        if "pids.max" not in seen.json():
            pytest.skip(f"no pids cgroup here: {seen.json()}")
        assert seen.json()["pids.max"] == "40"
        assert seen.json().get("cpu.shares", "512") == "512" and seen.json().get("cpu.weight", "50") == "50"
        bomb = api.post("/acts", json=files_actor("bomb", {"main.py": FORK_BOMB})).json()["data"]
        response = api.post(f"/acts/{bomb['id']}/run-sync")
        assert response.status_code == 201, response.text
        assert 0 < response.json()["threads"] < 40


@pytest.mark.parametrize("target", ["os:getcwd", "subprocess:run", "tests.actorsx:noop", "tests:actors"])
def test_a_callable_outside_the_trusted_modules_is_refused(
    api: httpx.Client, account: Account, db: SyncDatabase, target: str
) -> None:
    """A PYTHON_CALLABLE runs in the worker, outside the sandbox: only GREENROOM_CALLABLE_MODULES'
    functions (here tests.actors) may be named, not any function the worker can import."""
    before = snapshot(db, account.user_id)
    version = {"versionNumber": "0.0", "sourceType": "PYTHON_CALLABLE", "callable": target}
    body = {"name": "sneaky", "versions": [version]}
    response = api.post("/acts", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid-input" and "GREENROOM_CALLABLE_MODULES" in error["message"]
    assert snapshot(db, account.user_id) == before
    allowed = api.post("/acts", json=callable_actor("allowed", "noop")).json()["data"]
    added = api.post(f"/acts/{allowed['id']}/versions", json=version | {"versionNumber": "0.1"})
    assert added.status_code == 400, added.text
