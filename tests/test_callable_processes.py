"""A callable's process stays for the next run of the same user's same callable (worker/runners/
standby.py): never for another user's, never with something of its run still going, and each run's
log and CPU are its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest

from server.settings import Settings
from server.storage.db import SyncDatabase
from server.users import create_user
from tests.actors import callable_actor, run_spec
from tests.procs import alive, memory_mechanism
from tests.stack import Stack, as_worker
from worker.logs import LogWriter
from worker.runners.standby import Standbys
from worker.supervisor import supervise

RUNS = 6  # sequential runs: at most one process stays per worker (the stack has two)


def _actor(api: httpx.Client, target: str) -> str:
    response = api.post(
        "/acts", json=callable_actor(f"{target.replace('_', '-')}-{uuid.uuid4().hex[:6]}", target)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def _output(api: httpx.Client, actor_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(f"/acts/{actor_id}/run-sync", json=body or {})
    assert response.status_code == 201, response.text
    output: dict[str, Any] = response.json()
    return output


def test_a_callables_process_serves_the_next_runs_of_the_same_user(api: httpx.Client) -> None:
    """Without the stay, every run is a new process: RUNS pids."""
    actor_id = _actor(api, "remember")
    pids = {_output(api, actor_id)["pid"] for _ in range(RUNS)}
    assert len(pids) <= RUNS // 2, pids


def test_another_users_run_never_gets_a_process_that_holds_a_users_secret(
    api: httpx.Client, stack: Stack, db: SyncDatabase
) -> None:
    """By attack: alice's runs leave a secret in their process's memory; bob's runs of the same
    callable (his own actor) find none of it, and never run in one of her processes."""
    alices = _actor(api, "remember")
    held = [_output(api, alices, {"secret": f"alice-{n}"}) for n in range(RUNS)]
    assert any(len(output["held"]) > 1 for output in held)  # her runs did share a process

    _user, token = create_user(db, f"bob{uuid.uuid4().hex[:8]}")
    with stack.client(token) as bob:
        bobs = _actor(bob, "remember")
        seen = [_output(bob, bobs) for _ in range(RUNS)]
    assert all(
        not output["held"] or not any(s.startswith("alice") for s in output["held"]) for output in seen
    )
    assert {output["pid"] for output in seen}.isdisjoint({output["pid"] for output in held})


@pytest.mark.parametrize("what", ["process", "daemon", "thread", "exit"])
def test_a_process_that_left_something_going_does_not_stay(api: httpx.Client, what: str) -> None:
    """A child process, a daemon or a thread still going after the run returned, or a run that asked
    to exit: the process ends with its run (and what it left with it), and the next run gets a new
    one. The run SUCCEEDED all the same. A daemon is seen only in the run's memory group (it left
    the process's children and its session)."""
    if what == "daemon" and not memory_mechanism().startswith("cgroup"):
        pytest.skip("a daemon is found in the run's memory group, and this host makes none")
    actor_id = _actor(api, "leave_behind")
    first = _output(api, actor_id, {"what": what})
    pids = [_output(api, actor_id)["pid"] for _ in range(RUNS)]  # on both workers
    assert first["pid"] not in pids
    if first["child"] is not None:
        deadline = time.monotonic() + 10
        while alive(first["child"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(first["child"])


def test_a_process_stopped_with_its_run_does_not_stay(api: httpx.Client) -> None:
    """A run that timed out, in a process that served an earlier run: the process is killed with it,
    and no later run is given it."""
    actor_id = _actor(api, "leave_behind")
    before = {_output(api, actor_id)["pid"] for _ in range(RUNS)}
    stopped = api.post(
        f"/acts/{actor_id}/runs", params={"timeout": 1, "waitForFinish": 60}, json={"what": "sleep"}
    ).json()["data"]
    assert stopped["status"] == "TIMED-OUT", stopped
    store = stopped["defaultKeyValueStoreId"]
    pid = api.get(f"/key-value-stores/{store}/records/PID").json()
    assert pid in before  # it ran in a process that had stayed
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    assert pid not in {_output(api, actor_id)["pid"] for _ in range(RUNS)}


def test_each_run_has_its_own_log_and_cpu(api: httpx.Client) -> None:
    """A process that stays writes each run's output to that run's log only, and a run's CPU is its
    own, not its process's since it started."""
    burner = _actor(api, "cpu_burner")
    runs = []
    for seconds in (0.6, 0.0, 0.0, 0.0):
        response = api.post(f"/acts/{burner}/runs", params={"waitForFinish": 60}, json={"seconds": seconds})
        assert response.status_code == 201, response.text
        runs.append(response.json()["data"])
    assert all(run["status"] == "SUCCEEDED" for run in runs), runs
    cpu_s = [run["stats"]["cpuAvgUsage"] / 100 * run["stats"]["runTimeSecs"] for run in runs]
    assert cpu_s[0] >= 0.5, cpu_s
    assert all(spent < 0.3 for spent in cpu_s[1:]), cpu_s

    echo = _actor(api, "remember")
    for n in range(RUNS):
        _output(api, echo, {"secret": f"line-{n}"})
    listed = api.get(f"/acts/{echo}/runs", params={"desc": 1}).json()["data"]["items"]
    assert len(listed) == RUNS
    for index, run in enumerate(listed):
        log = api.get(f"/logs/{run['id']}").text
        assert f"remembering line-{RUNS - 1 - index}" in log, log
        assert log.count("remembering") == 1, log


class _Lines:
    """A run log kept in memory (supervise's LogWriter: line and flush)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def two_runs_a_process(settings: Settings) -> Iterator[Settings]:
    """This process as a worker without groups (its process group tells what a run left) whose
    callables' processes serve two runs each."""
    plain = Settings(
        memory_limit="off", sandbox="off", callable_modules=("tests.actors",), callable_process_runs=2
    )
    with as_worker(plain, settings):
        yield plain


def test_a_process_serves_at_most_callable_process_runs_runs(two_runs_a_process: Settings) -> None:
    standbys = Standbys(two_runs_a_process)
    standbys.enable()
    key = ("alice", "tests.actors:noop")
    spec = run_spec(source={"sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:noop"})
    pids, codes = [], []
    try:
        for _ in range(5):
            standby = standbys.take("callable", key)
            child = standby.start(spec, stay_for=key)
            codes.append(supervise(child, cast(LogWriter, _Lines()), None, 1.0, lambda: None).exit_code)
            standbys.retire(standby, child)
            pids.append(child.pid)
            standbys.refill()
    finally:
        standbys.close()
    assert codes == [0] * 5
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert not any(alive(pid) for pid in pids)  # the last stayed, and went with the worker's standbys
