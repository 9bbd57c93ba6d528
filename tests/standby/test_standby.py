"""Actor Standby end to end: an actor that is an HTTP server, answering through the API at its
standby URL while Greenroom starts its runs on demand, scales them by desiredRequestsPerActorRun and
maxRequestsPerActorRun, and stops them after idleTimeoutSecs; the caller's token never reaches the
actor; errors are Apify's gateway ones; and a hostile actor cannot reach a standby run's server
directly (it trusts that its requests came through the API)."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from apify_client import ApifyClient
from redis import Redis

from server.settings import Settings
from server.standby.idle import stop_idle
from server.storage.db import SyncDatabase
from server.users import create_user
from tests.actors import files_actor
from tests.conftest import Account
from tests.stack import Stack, free_port

pytestmark = pytest.mark.timeout(300)

# A standby actor as Apify's python-standby template shapes one (stdlib only, so it builds at once):
# a server on ACTOR_WEB_SERVER_PORT that answers the readiness probe, and echoes each request.
SERVER = """\
import json, os, signal, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock, active, peak = threading.Lock(), [0], [0]

class Echo(BaseHTTPRequestHandler):
    def _answer(self):
        if 'x-apify-container-server-readiness-probe' in self.headers:
            self.send_response(200); self.end_headers(); self.wfile.write(b'ok'); return
        if self.path.startswith('/stream'):
            self.send_response(200)
            self.send_header('content-type', 'text/plain')
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b'chunk\\n')
                self.wfile.flush()
                time.sleep(0.2)
            return
        length = int(self.headers.get('content-length') or 0)
        body = self.rfile.read(length).decode() if length else ''
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if 'sleep=' in self.path:
            time.sleep(float(self.path.split('sleep=')[1].split('&')[0]))
        with lock:
            active[0] -= 1
        seen = {
            'peak': peak[0],
            'runId': os.environ['ACTOR_RUN_ID'], 'method': self.command, 'path': self.path, 'body': body,
            'headers': {k.lower(): v for k, v in self.headers.items()},
            'env': {k: os.environ.get(k) for k in (
                'ACTOR_STANDBY_PORT', 'ACTOR_WEB_SERVER_PORT', 'ACTOR_STANDBY_URL', 'APIFY_META_ORIGIN')},
        }
        out = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(out)))
        self.send_header('x-echo', 'yes')
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = _answer
    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
ThreadingHTTPServer(('', int(os.environ['ACTOR_WEB_SERVER_PORT'])), Echo).serve_forever()
"""

ACTOR_JSON = json.dumps({"actorSpecification": 1, "name": "echo", "version": "0.0", "usesStandbyMode": True})

# Tries to reach a standby run's server from inside another run's sandbox.
INTRUDER = """\
import json, os, socket, urllib.request
store = os.environ['ACTOR_DEFAULT_KEY_VALUE_STORE_ID']
base = os.environ['APIFY_API_BASE_URL'] + '/v2/key-value-stores/' + store + '/records/'
auth = {'Authorization': 'Bearer ' + os.environ['APIFY_TOKEN']}
target = json.load(urllib.request.urlopen(urllib.request.Request(base + 'INPUT', headers=auth)))['port']
try:
    with socket.create_connection(('127.0.0.1', target), timeout=5) as s:
        s.sendall(b'GET /stolen HTTP/1.0\\r\\n\\r\\n')
        got = s.recv(100).decode(errors='replace')
    result = {'reached': True, 'got': got}
except OSError as exc:
    result = {'reached': False, 'error': str(exc)}
urllib.request.urlopen(urllib.request.Request(base + 'OUTPUT', data=json.dumps(result).encode(),
    method='PUT', headers={**auth, 'Content-Type': 'application/json'})).close()
"""


def _standby_actor(api: httpx.Client, name: str, standby: dict[str, Any] | None = None) -> dict[str, Any]:
    body = files_actor(name, {"main.py": SERVER, ".actor/actor.json": ACTOR_JSON})
    if standby is not None:
        body["actorStandby"] = standby
    created = api.post("/acts", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json()["data"])


def _live_runs(api: httpx.Client, actor_id: str) -> list[dict[str, Any]]:
    runs = api.get(f"/acts/{actor_id}/runs").json()["data"]["items"]
    return [r for r in runs if r["status"] in ("READY", "RUNNING", "ABORTING", "TIMING-OUT")]


def _until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


@pytest.fixture
def other(db: SyncDatabase) -> Account:
    user, token = create_user(db, f"o{uuid.uuid4().hex[:12]}")
    return Account(user.username, user.id, token)


def test_a_standby_actor_answers_through_the_api_without_the_callers_token(
    api: httpx.Client, account: Account, stack: Stack
) -> None:
    actor = _standby_actor(api, "echo")  # enabled by usesStandbyMode in its .actor/actor.json
    url = f"{stack.url}/v2/actor-standby/{account.username}--echo"
    with httpx.Client(timeout=120) as caller:
        answer = caller.post(
            f"{url}/some/path%2Fencoded",
            params={"token": account.token, "q": "1", "s": "a b"},
            content=b'{"hello": "standby"}',
            headers={"content-type": "application/json", "x-custom": "kept"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-echo"] == "yes"
        seen = answer.json()
        assert seen["method"] == "POST"
        assert (
            seen["path"] == "/some/path%2Fencoded?q=1&s=a+b"
        )  # the token is taken out, the rest kept as sent
        assert seen["body"] == '{"hello": "standby"}'
        assert seen["headers"]["x-custom"] == "kept"
        assert account.token not in json.dumps(seen)
        assert seen["env"]["ACTOR_STANDBY_PORT"] == seen["env"]["ACTOR_WEB_SERVER_PORT"]
        assert seen["env"]["ACTOR_STANDBY_URL"] == url
        assert seen["env"]["APIFY_META_ORIGIN"] == "STANDBY"
        # A Bearer header works as well, and is not passed on either; the run is reused.
        again = caller.get(url, headers={"Authorization": f"Bearer {account.token}"})
        assert again.status_code == 200, again.text
        assert "authorization" not in again.json()["headers"]
        assert again.json()["runId"] == seen["runId"]
    run = api.get(f"/actor-runs/{seen['runId']}").json()["data"]
    assert run["meta"]["origin"] == "STANDBY"
    assert run["status"] == "RUNNING"
    assert [r["id"] for r in _live_runs(api, actor["id"])] == [seen["runId"]]
    api.post(f"/actor-runs/{seen['runId']}/abort")


def test_standby_scales_from_none_to_two_runs_and_back_to_none(
    api: httpx.Client, account: Account, stack: Stack
) -> None:
    standby = {
        "isEnabled": True,
        "desiredRequestsPerActorRun": 1,
        "maxRequestsPerActorRun": 1,
        "idleTimeoutSecs": 1,
    }
    actor = _standby_actor(api, "scaling", standby)
    assert actor["actorStandby"]["maxRequestsPerActorRun"] == 1
    assert actor["standbyUrl"] == f"{stack.url}/v2/actor-standby/{account.username}--scaling"
    assert _live_runs(api, actor["id"]) == []
    url = f"{actor['standbyUrl']}/slow"

    def call(_: int) -> str:
        with httpx.Client(timeout=120) as caller:
            answer = caller.get(url, params={"token": account.token, "sleep": "2"})
            assert answer.status_code == 200, answer.text
            return str(answer.json()["runId"])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        served_by = set(pool.map(call, range(2)))
    assert len(served_by) == 2  # one request at most per run: two runs
    assert {r["id"] for r in _live_runs(api, actor["id"])} == served_by
    # Idle for idleTimeoutSecs: both stop, gracefully, and say why.
    _until(lambda: _live_runs(api, actor["id"]) == [], 30, "the idle standby runs to stop")
    for run_id in served_by:
        run = api.get(f"/actor-runs/{run_id}").json()["data"]
        assert run["status"] == "ABORTED"
        assert "idleTimeoutSecs" in run["statusMessage"]
    # A request after that starts a run again.
    assert call(0) not in served_by
    for run in _live_runs(api, actor["id"]):
        api.post(f"/actor-runs/{run['id']}/abort")


def test_standby_errors_are_apifys(api: httpx.Client, account: Account, other: Account, stack: Stack) -> None:
    _standby_actor(api, "errors")
    base = f"{stack.url}/v2/actor-standby"
    with httpx.Client(timeout=120) as caller:
        assert (
            caller.get(f"{base}/{account.username}--errors").json()["error"]["type"] == "token-not-provided"
        )
        # Another user's token: the actor is not found, and no run of it starts.
        stranger = caller.get(f"{base}/{account.username}--errors", params={"token": other.token})
        assert stranger.status_code == 404, stranger.text
        assert stranger.json()["error"]["type"] == "record-not-found"
        # An actor whose Standby is off.
        api.post("/acts", json=files_actor("plain", {"main.py": "print('hi')"})).raise_for_status()
        off = caller.get(f"{base}/{account.username}--plain", params={"token": account.token})
        assert off.status_code == 404
        assert off.json()["error"]["type"] == "platform-feature-disabled"
        assert "Actor Standby is not enabled" in off.json()["error"]["message"]
        # A server that dies before it is ready: 502 naming the run.
        crash = files_actor("crash", {"main.py": "raise SystemExit(3)", ".actor/actor.json": ACTOR_JSON})
        api.post("/acts", json=crash).raise_for_status()
        failed = caller.get(f"{base}/{account.username}--crash", params={"token": account.token})
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"]["type"] == "actor-run-failed"
        assert "FAILED" in failed.json()["error"]["message"]
    assert all(r["status"] != "RUNNING" for r in api.get("/actor-runs").json()["data"]["items"])
    assert api.get("/acts/~errors").json()["data"]["stats"].get("totalRuns", 0) == 0
    for actor in ("errors", "plain"):
        runs = api.get(f"/acts/~{actor}/runs").json()["data"]["items"]
        assert runs == [], f"{actor}: {runs}"


def test_bad_actor_standby_settings_are_refused(api: httpx.Client) -> None:
    for bad, field in (
        ({"maxRequestsPerActorRun": 0}, "maxRequestsPerActorRun"),
        ({"desiredRequestsPerActorRun": 5, "maxRequestsPerActorRun": 2}, "desiredRequestsPerActorRun"),
        ({"idleTimeoutSecs": "soon"}, "idleTimeoutSecs"),
        ({"memoryMbytes": 1000}, "Memory"),
        ({"isEnabled": "yes"}, "isEnabled"),
        ("on", "actorStandby"),
    ):
        body = files_actor("bad-standby", {"main.py": ""}) | {"actorStandby": bad}
        refused = api.post("/acts", json=body)
        assert refused.status_code == 400, (bad, refused.text)
        assert field in refused.json()["error"]["message"]
    actor = api.post("/acts", json=files_actor("good-standby", {"main.py": ""})).json()["data"]
    assert actor["actorStandby"] is None and actor["standbyUrl"] is None
    updated = api.put(
        f"/acts/{actor['id']}", json={"actorStandby": {"isEnabled": True, "idleTimeoutSecs": 60}}
    )
    assert updated.json()["data"]["actorStandby"] == {"isEnabled": True, "idleTimeoutSecs": 60}
    # A field left out keeps its value.
    updated = api.put(f"/acts/{actor['id']}", json={"actorStandby": {"maxRequestsPerActorRun": 8}})
    assert updated.json()["data"]["actorStandby"] == {
        "isEnabled": True,
        "idleTimeoutSecs": 60,
        "maxRequestsPerActorRun": 8,
    }
    assert updated.json()["data"]["standbyUrl"].endswith("--good-standby")


@pytest.fixture
def host_api(stack: Stack) -> Iterator[str]:
    """A second API process with a wildcard standby host, a short wait for readiness, and one request
    in progress per caller."""
    settings = stack.settings.with_(
        port=free_port(),
        standby_host="standby.localhost",
        standby_start_timeout_s=2.0,
        max_in_flight_per_caller=1,
    )
    yield stack.start_api(settings)


def test_a_wildcard_host_serves_the_actor_and_a_server_never_ready_is_a_504(
    api: httpx.Client, account: Account, host_api: str
) -> None:
    _standby_actor(api, "hosted")
    host = f"{account.username}--hosted.standby.localhost"
    with httpx.Client(timeout=120) as caller:
        # Its own /v2/... path is the actor's, not the API's.
        answer = caller.get(f"{host_api}/v2/acts", params={"token": account.token}, headers={"host": host})
        assert answer.status_code == 200, answer.text
        assert answer.json()["path"] == "/v2/acts"

        # A request waiting for the actor's answer does not hold the caller's one place in progress.
        def slow(_: int) -> int:
            params = {"token": account.token, "sleep": "1"}
            return int(caller.get(f"{host_api}/slow", params=params, headers={"host": host}).json()["peak"])

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            assert max(pool.map(slow, range(3))) == 3
        api.post(f"/actor-runs/{answer.json()['runId']}/abort")
        silent = files_actor(
            "silent", {"main.py": "import time\ntime.sleep(600)", ".actor/actor.json": ACTOR_JSON}
        )
        api.post("/acts", json=silent).raise_for_status()
        never = caller.get(
            host_api,
            params={"token": account.token},
            headers={"host": f"{account.username}--silent.standby.localhost"},
        )
        assert never.status_code == 504, never.text
        assert never.json()["error"]["type"] == "operation-timed-out"
        assert "GREENROOM_STANDBY_START_TIMEOUT_S" in never.json()["error"]["message"]
    for run in api.get("/acts/~silent/runs").json()["data"]["items"]:
        api.post(f"/actor-runs/{run['id']}/abort")


def test_a_hostile_actor_cannot_reach_a_standby_runs_server(
    api: httpx.Client, account: Account, stack: Stack, db: SyncDatabase, sandbox_mode: str
) -> None:
    if sandbox_mode == "off":
        pytest.skip("this machine cannot sandbox actors (not root, or no bubblewrap)")
    _standby_actor(api, "target")
    with httpx.Client(timeout=120) as caller:
        seen = caller.get(
            f"{stack.url}/v2/actor-standby/{account.username}--target", params={"token": account.token}
        ).json()
    port = int(seen["env"]["ACTOR_WEB_SERVER_PORT"])
    assert port in stack.settings.standby_ports
    intruder = api.post("/acts", json=files_actor("intruder", {"main.py": INTRUDER})).json()["data"]
    out = api.post(f"/acts/{intruder['id']}/run-sync", json={"port": port}, timeout=120)
    assert out.status_code == 201, out.text
    assert out.json()["reached"] is False, out.json()
    api.post(f"/actor-runs/{seen['runId']}/abort")


def test_the_official_python_client_sets_and_reads_actor_standby(account: Account, stack: Stack) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    version = {"versionNumber": "0.0", "sourceType": "SOURCE_FILES", "sourceFiles": []}
    created = client.actors().create(name="client-standby", versions=[version])
    assert created.actor_standby is None and created.standby_url is None
    actor = client.actor(created.id)
    updated = actor.update(
        actor_standby_is_enabled=True,
        actor_standby_desired_requests_per_actor_run=2,
        actor_standby_max_requests_per_actor_run=5,
        actor_standby_idle_timeout=timedelta(seconds=90),
    )
    assert updated.actor_standby is not None
    assert updated.actor_standby.is_enabled is True
    assert updated.actor_standby.max_requests_per_actor_run == 5
    assert updated.actor_standby.idle_timeout_secs == 90
    got = actor.get()
    assert (
        got is not None
        and got.standby_url == f"{stack.url}/v2/actor-standby/{account.username}--client-standby"
    )


def test_another_deployment_on_the_database_leaves_this_ones_standby_runs_alone(
    api: httpx.Client, account: Account, stack: Stack, settings: Settings, db: SyncDatabase
) -> None:
    """A deployment counts its standby runs' requests in its own Redis keys: the sweeper of another
    (another Redis prefix on the same database: the shared test stack beside this module's) saw none,
    took them for idle and aborted them, through an abort channel their workers do not hear, so they
    stayed ABORTING (found by the suite: these tests' runs stuck, the next ones starved of workers)."""
    _standby_actor(api, "kept")
    with httpx.Client(timeout=120) as caller:
        url = f"{stack.url}/v2/actor-standby/{account.username}--kept"
        seen = caller.get(url, params={"token": account.token}).json()
    assert settings.redis_prefix != stack.settings.redis_prefix
    client = Redis.from_url(settings.redis_url)
    try:
        other = SimpleNamespace(settings=settings, db=db, redis=client)
        assert stop_idle(other) == []
    finally:
        client.close()
    assert api.get(f"/actor-runs/{seen['runId']}").json()["data"]["status"] == "RUNNING"
    api.post(f"/actor-runs/{seen['runId']}/abort")


def test_a_caller_that_hangs_up_mid_answer_is_no_longer_counted_on_the_run(
    api: httpx.Client, account: Account, stack: Stack
) -> None:
    """Its request leaves the run's count at once; a request left counted would stay so for
    GREENROOM_STANDBY_REQUEST_TIMEOUT_S, and its run would never go idle."""
    _standby_actor(api, "hangup")
    url = f"{stack.url}/v2/actor-standby/{account.username}--hangup"
    with httpx.Client(timeout=120) as caller:
        run_id = caller.get(url, params={"token": account.token}).json()["runId"]
        with caller.stream("GET", f"{url}/stream", params={"token": account.token}) as answer:
            assert next(answer.iter_raw()).startswith(b"chunk")
    client = Redis.from_url(stack.settings.redis_url)
    try:
        key = f"{stack.settings.redis_prefix}:standby:{run_id}:inflight"
        _until(lambda: client.zcount(key, time.time(), "+inf") == 0, 10, "the request to leave the count")
    finally:
        client.close()
    api.post(f"/actor-runs/{run_id}/abort")
