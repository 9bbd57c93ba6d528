"""The runs' platform events websocket (ACTOR_EVENTS_WEBSOCKET_URL), with a plain websocket client.

First the server on its own (worker/events.py), then end to end: an actor that listens on it hears
`aborting` (then persistState) when its run is aborted gracefully, before any signal.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from server.settings import Settings
from tests.actors import files_actor
from tests.conftest import Account
from tests.stack import Stack, free_port, running
from worker.events import RunEvents
from worker.meter import Meter
from worker.usage import system_info


@pytest.fixture
def events() -> Iterator[RunEvents]:
    server = RunEvents(system_info_interval_s=0.1)
    server.start()
    yield server
    server.close()


def _next(ws: ClientConnection, timeout_s: float = 5) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=timeout_s)))


def test_only_the_runs_own_path_connects(events: RunEvents) -> None:
    root = events.url.rsplit("/", 1)[0]
    for wrong in (f"{root}/guess", root.rsplit("/", 1)[0] + "/"):
        with pytest.raises(InvalidStatus) as refused:
            connect(wrong, open_timeout=5).close()
        assert refused.value.response.status_code == 404
    with connect(events.url, open_timeout=5) as ws:
        assert ws.protocol.state.name == "OPEN"


def test_system_info_comes_in_apifys_shape(events: RunEvents) -> None:
    meter = Meter(memory_mbytes=256)
    meter.start_attempt()
    with connect(events.url, open_timeout=5) as ws:
        events.watch(system_info(meter, 256, cpus=2))
        time.sleep(0.3)
        with pytest.raises(TimeoutError):  # nothing measured yet: nothing sent
            ws.recv(timeout=0.2)
        meter.sample(50_000_000, 0.0)
        meter.sample(60_000_000, 0.0)
        event = _next(ws)
    assert event["name"] == "systemInfo"
    assert event["createdAt"].endswith("Z")
    data = event["data"]
    assert set(data) == {
        "memAvgBytes",
        "memCurrentBytes",
        "memMaxBytes",
        "cpuAvgUsage",
        "cpuMaxUsage",
        "cpuCurrentUsage",
        "isCpuOverloaded",
        "createdAt",
    }
    assert data["memCurrentBytes"] == 60_000_000
    assert data["memAvgBytes"] == 55_000_000
    assert data["memMaxBytes"] == 256 * 1024 * 1024  # what the actor may use, as the SDK reads it
    assert data["isCpuOverloaded"] is False


def test_aborting_then_persist_state_to_every_listener(events: RunEvents) -> None:
    assert events.aborting() is False  # nobody listening: the supervisor signals at once instead
    with connect(events.url, open_timeout=5) as first, connect(events.url, open_timeout=5) as second:
        deadline = time.monotonic() + 5
        while events.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events.aborting() is True
        for ws in (first, second):
            aborting, persist = _next(ws), _next(ws)
            assert aborting["name"] == "aborting" and "data" not in aborting
            assert persist == {**persist, "name": "persistState", "data": {"isMigrating": False}}


def test_close_ends_the_connections_and_the_path(events: RunEvents) -> None:
    with connect(events.url, open_timeout=5) as ws:
        events.close()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    with pytest.raises(InvalidStatus) as refused:
        connect(events.url, open_timeout=2).close()
    assert refused.value.response.status_code == 404


def test_two_runs_on_one_server_hear_only_their_own_events(events: RunEvents) -> None:
    """A worker's runs share its events server: each connection hears its own run's events, and
    one run's end closes only its own connections."""
    other = RunEvents(system_info_interval_s=0.1)
    other.start()
    try:
        assert other.url.rsplit("/", 1)[0] == events.url.rsplit("/", 1)[0]  # one server, two paths
        with connect(events.url, open_timeout=5) as mine, connect(other.url, open_timeout=5) as theirs:
            deadline = time.monotonic() + 5
            while (events.connections, other.connections) != (1, 1) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert other.aborting() is True
            assert [_next(theirs)["name"] for _ in range(2)] == ["aborting", "persistState"]
            with pytest.raises(TimeoutError):
                mine.recv(timeout=0.3)
            other.close()
            with pytest.raises(ConnectionClosed):
                theirs.recv(timeout=5)
            assert events.aborting() is True
            assert _next(mine)["name"] == "aborting"
    finally:
        other.close()


# A process actor (the worker's Python, which has `websockets`) that records what its events
# websocket says. exit_on_abort: ends once it heard aborting and persistState; else it waits to be
# signalled, and records when SIGTERM came.
LISTENER = """\
import json, os, signal, sys, time, urllib.request
from websockets.sync.client import connect

base, store = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
auth = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}

def put(key, value):
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/v2/key-value-stores/{store}/records/{key}", data=json.dumps(value).encode(),
        method="PUT", headers={**auth, "Content-Type": "application/json"})).close()

with urllib.request.urlopen(urllib.request.Request(
        f"{base}/v2/key-value-stores/{store}/records/INPUT", headers=auth)) as response:
    config = json.load(response)
seen = []

def on_term(signum, frame):
    put("SEEN", {"events": seen, "sigtermAt": time.monotonic()})
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
with connect(os.environ["ACTOR_EVENTS_WEBSOCKET_URL"]) as ws:
    put("CONNECTED", {"ok": True})
    for message in ws:
        event = json.loads(message)
        seen.append({"name": event["name"], "data": event.get("data"), "at": time.monotonic()})
        if event["name"] == "persistState" and config.get("exitOnAbort"):
            put("SEEN", {"events": seen})
            sys.exit(0)
"""


def _listening_run(api: httpx.Client, run_input: dict[str, Any]) -> tuple[str, str]:
    actor = api.post("/acts", json=files_actor("listener", {"main.py": LISTENER})).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", json=run_input).json()["data"]
    store = run["defaultKeyValueStoreId"]
    deadline = time.monotonic() + 30
    while api.get(f"/key-value-stores/{store}/records/CONNECTED").status_code != 200:
        assert time.monotonic() < deadline, api.get(f"/actor-runs/{run['id']}/log").text
        time.sleep(0.05)
    return run["id"], store


def _aborted_gracefully(api: httpx.Client, run_id: str, store: str) -> tuple[dict[str, Any], list[Any]]:
    assert api.post(f"/actor-runs/{run_id}/abort", params={"gracefully": "true"}).status_code == 200
    run = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 30}).json()["data"]
    seen = api.get(f"/key-value-stores/{store}/records/SEEN")
    assert seen.status_code == 200, api.get(f"/actor-runs/{run_id}/log").text
    return run, seen.json()


def test_a_listening_actor_hears_aborting_and_ends_by_itself(api: httpx.Client) -> None:
    run_id, store = _listening_run(api, {"exitOnAbort": True})
    started = time.monotonic()
    run, seen = _aborted_gracefully(api, run_id, store)
    assert run["status"] == "ABORTED" and run["exitCode"] == 0
    names = [event["name"] for event in seen["events"]]
    assert names[-2:] == ["aborting", "persistState"]
    assert time.monotonic() - started < 10  # not the grace period (30 s): it ended by itself


@pytest.fixture
def short_grace(settings: Settings, stack: Stack, account: Account) -> Iterator[httpx.Client]:
    """An API and a worker of their own (own Redis prefix, same database) with a 2 s abort grace."""
    own = settings.with_(
        redis_prefix=f"gr-grace-{uuid.uuid4().hex[:8]}",
        port=free_port(),
        abort_grace_s=2.0,
        system_info_interval_s=0.2,
    )
    with running(own, workers=1) as grace, grace.client(account.token) as client:
        yield client


def test_sigterm_comes_only_after_the_grace_period_when_the_actor_listens(short_grace: httpx.Client) -> None:
    run_id, store = _listening_run(short_grace, {})
    time.sleep(1.5)  # the supervisor samples the actor every second: a few systemInfo events
    run, seen = _aborted_gracefully(short_grace, run_id, store)
    assert run["status"] == "ABORTED"
    events = seen["events"]
    info = [event for event in events if event["name"] == "systemInfo"]
    assert info and info[-1]["data"]["memCurrentBytes"] > 0
    assert info[-1]["data"]["memMaxBytes"] == run["options"]["memoryMbytes"] * 1024 * 1024
    aborting = next(event for event in events if event["name"] == "aborting")
    # aborting first, then the whole grace period (2 s) for the actor to end by itself, then SIGTERM.
    assert 1.8 < seen["sigtermAt"] - aborting["at"] < 6
