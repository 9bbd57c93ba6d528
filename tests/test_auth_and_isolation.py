"""Tokens (Bearer, ?token=, run tokens) and the wall between users: someone else's things are 404."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from server.users import create_user
from tests.actors import callable_actor, files_actor
from tests.rows import snapshot

ENDPOINTS = [
    ("GET", "/users/me"),
    ("GET", "/acts"),
    ("POST", "/acts"),
    ("GET", "/actor-tasks"),
    ("POST", "/actor-tasks"),
    ("GET", "/actor-tasks/AAAAAAAAAAAAAAAAA"),
    ("POST", "/actor-tasks/AAAAAAAAAAAAAAAAA/runs"),
    ("GET", "/actor-runs/AAAAAAAAAAAAAAAAA"),
    ("POST", "/key-value-stores?name=nope"),
    ("GET", "/key-value-stores/AAAAAAAAAAAAAAAAA/records/KEY"),
    ("PUT", "/key-value-stores/AAAAAAAAAAAAAAAAA/records/KEY"),
]


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_missing_token_is_401_token_not_provided(stack) -> None:
    expected = {"type": "token-not-provided", "message": "Authentication token was not provided"}
    for method, path in ENDPOINTS:
        response = httpx.request(method, f"{stack.url}/v2{path}", json={"name": "x"})
        assert (method, path, response.status_code) == (method, path, 401), response.text
        assert _error(response) == expected


@pytest.mark.parametrize("header", ["Bearer", "Basic dXNlcjpwYXNz"])
def test_authorization_without_a_bearer_token_is_token_not_provided(stack, header) -> None:
    response = httpx.get(f"{stack.url}/v2/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert _error(response)["type"] == "token-not-provided"


def test_wrong_token_is_401_user_or_token_not_found(stack, account) -> None:
    wrong = account.token[:-1] + ("A" if account.token[-1] != "A" else "B")
    expected = {
        "type": "user-or-token-not-found",
        "message": "User was not found or authentication token is not valid",
    }
    for method, path in ENDPOINTS:
        for kwargs in ({"headers": {"Authorization": f"Bearer {wrong}"}}, {"params": {"token": wrong}}):
            response = httpx.request(method, f"{stack.url}/v2{path}", json={"name": "x"}, **kwargs)
            assert (method, path, response.status_code) == (method, path, 401), response.text
            assert _error(response) == expected


def test_query_token_works_like_bearer(stack, account, db) -> None:
    base = f"{stack.url}/v2"
    by_query = httpx.get(f"{base}/users/me", params={"token": account.token})
    by_header = httpx.get(f"{base}/users/me", headers={"Authorization": f"Bearer {account.token}"})
    assert by_query.status_code == by_header.status_code == 200
    assert by_query.json() == by_header.json()
    assert by_query.json()["data"]["username"] == account.username
    assert by_query.json()["data"]["id"] == account.user_id
    # A write through ?token= lands in the token owner's account.
    created = httpx.post(f"{base}/key-value-stores", params={"name": "via-query", "token": account.token})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["userId"] == account.user_id
    assert len(snapshot(db, account.user_id)["key_value_stores"]) == 1


# --- two users -------------------------------------------------------------------------------------


class Other:
    def __init__(self, username: str, user_id: str, client: httpx.Client):
        self.username = username
        self.user_id = user_id
        self.client = client


@pytest.fixture
def other(stack, db) -> Iterator[Other]:
    user, token = create_user(db, f"o{uuid.uuid4().hex[:12]}")
    with stack.client(token) as client:
        yield Other(user.username, user.id, client)


def _owned_things(api: httpx.Client) -> dict:
    """An actor, a task, a finished run (OUTPUT + a dataset item) and a named store with a record."""
    actor = api.post("/acts", json=callable_actor("iso-actor", "echo"))
    assert actor.status_code == 201, actor.text
    actor_id = actor.json()["data"]["id"]
    task = api.post("/actor-tasks", json={"actId": actor_id, "name": "iso-task", "input": {"secret": 1}})
    assert task.status_code == 201, task.text
    task_id = task.json()["data"]["id"]
    run = api.post(f"/actor-tasks/{task_id}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED", run
    store = api.post("/key-value-stores", params={"name": "iso-store"})
    assert store.status_code == 201
    store_id = store.json()["data"]["id"]
    put = api.put(
        f"/key-value-stores/{store_id}/records/SECRET",
        content=b"owner's",
        headers={"Content-Type": "text/plain"},
    )
    assert put.status_code == 201
    return {
        "actor": actor_id,
        "task": task_id,
        "run": run["id"],
        "run_store": run["defaultKeyValueStoreId"],
        "run_dataset": run["defaultDatasetId"],
        "store": store_id,
    }


TASK_GONE = ("record-not-found", "Actor task was not found")
RUN_GONE = ("record-not-found", "Actor run was not found")
ACTOR_GONE = ("record-not-found", "Actor was not found")


def _intrusions(owner: str, ids: dict) -> list[tuple[str, str, dict, tuple[str, str | None]]]:
    actor_refs = [ids["actor"], f"{owner}~iso-actor"]
    task_refs = [ids["task"], f"{owner}~iso-task"]
    store_refs = [ids["store"], f"{owner}~iso-store", ids["run_store"]]
    dataset_refs = [ids["run_dataset"]]
    out: list[tuple[str, str, dict, tuple[str, str | None]]] = []
    for ref in actor_refs:
        for prefix in ("acts", "actors"):
            out += [
                ("GET", f"/{prefix}/{ref}", {}, ACTOR_GONE),
                ("POST", f"/{prefix}/{ref}/runs", {"json": {"x": 1}}, ACTOR_GONE),
                ("POST", f"/{prefix}/{ref}/run-sync", {"json": {"x": 1}}, ACTOR_GONE),
                ("GET", f"/{prefix}/{ref}/run-sync", {}, ACTOR_GONE),
            ]
        out.append(("POST", "/actor-tasks", {"json": {"actId": ref, "name": "stolen"}}, ACTOR_GONE))
    for ref in task_refs:
        out += [
            ("GET", f"/actor-tasks/{ref}", {}, TASK_GONE),
            ("PUT", f"/actor-tasks/{ref}", {"json": {"title": "pwned", "input": {}}}, TASK_GONE),
            ("DELETE", f"/actor-tasks/{ref}", {}, TASK_GONE),
            ("GET", f"/actor-tasks/{ref}/input", {}, TASK_GONE),
            ("PUT", f"/actor-tasks/{ref}/input", {"json": {"secret": 2}}, TASK_GONE),
            ("POST", f"/actor-tasks/{ref}/runs", {}, TASK_GONE),
            ("POST", f"/actor-tasks/{ref}/run-sync", {}, TASK_GONE),
            ("GET", f"/actor-tasks/{ref}/run-sync", {}, TASK_GONE),
        ]
    run = ids["run"]
    out += [
        ("GET", f"/actor-runs/{run}", {}, RUN_GONE),
        ("GET", f"/actor-runs/{run}?waitForFinish=1", {}, RUN_GONE),
        ("PUT", f"/actor-runs/{run}", {"json": {"statusMessage": "pwned"}}, RUN_GONE),
        ("GET", f"/actor-runs/{run}/log", {}, RUN_GONE),
        ("GET", f"/logs/{run}", {}, RUN_GONE),
    ]
    for ref in store_refs:
        out += [
            ("GET", f"/key-value-stores/{ref}", {}, ("record-not-found", None)),
            ("GET", f"/key-value-stores/{ref}/records/SECRET", {}, ("record-not-found", None)),
            ("GET", f"/key-value-stores/{ref}/records/OUTPUT", {}, ("record-not-found", None)),
            ("HEAD", f"/key-value-stores/{ref}/records/SECRET", {}, ("", None)),
            (
                "PUT",
                f"/key-value-stores/{ref}/records/SECRET",
                {"content": b"pwned"},
                ("record-not-found", None),
            ),
            (
                "POST",
                f"/key-value-stores/{ref}/records/NEW",
                {"content": b"pwned"},
                ("record-not-found", None),
            ),
            ("DELETE", f"/key-value-stores/{ref}/records/SECRET", {}, ("record-not-found", None)),
            ("DELETE", f"/key-value-stores/{ref}/records/OUTPUT", {}, ("record-not-found", None)),
        ]
    for ref in dataset_refs:
        out += [
            ("GET", f"/datasets/{ref}", {}, ("record-not-found", None)),
            ("GET", f"/datasets/{ref}/items", {}, ("record-not-found", None)),
            ("POST", f"/datasets/{ref}/items", {"json": [{"pwned": True}]}, ("record-not-found", None)),
        ]
    return out


def test_users_cannot_see_or_touch_each_others_things(api, account, other, db) -> None:
    ids = _owned_things(api)
    # The intruder owns things with the very same names: `owner~name` must still not reach them.
    mine = other.client.post("/acts", json=callable_actor("iso-actor", "echo")).json()["data"]
    assert (
        other.client.post("/actor-tasks", json={"actId": mine["id"], "name": "iso-task"}).status_code == 201
    )
    assert other.client.post("/key-value-stores", params={"name": "iso-store"}).status_code == 201
    before = snapshot(db, account.user_id)
    intruder_before = snapshot(db, other.user_id)

    wrong = []
    for method, path, kwargs, (error_type, message) in _intrusions(account.username, ids):
        response = other.client.request(method, path, **kwargs)
        if response.status_code != 404:
            wrong.append((method, path, response.status_code, response.text[:200]))
            continue
        if method == "HEAD":
            continue
        error = response.json().get("error", {})
        expected = (error_type, message or error.get("message", ""))
        if (error.get("type"), error.get("message")) != expected or not expected[1].endswith("was not found"):
            wrong.append((method, path, error))
    assert wrong == []

    # Nothing of the owner's changed, and the intruder got nothing new (no runs, tasks or records).
    assert snapshot(db, account.user_id) == before
    assert snapshot(db, other.user_id) == intruder_before
    assert api.get(f"/actor-tasks/{ids['task']}/input").json() == {"secret": 1}
    record = api.get(f"/key-value-stores/{ids['store']}/records/SECRET")
    assert record.status_code == 200 and record.content == b"owner's"
    assert api.get(f"/actor-runs/{ids['run']}").json()["data"]["statusMessage"] != "pwned"


def test_lists_and_tilde_names_are_per_user(api, account, other) -> None:
    ids = _owned_things(api)
    for path in ("/acts", "/actors", "/actor-tasks"):
        listed = other.client.get(path)
        assert listed.status_code == 200
        assert listed.json()["data"]["total"] == 0 and listed.json()["data"]["items"] == []
        assert api.get(path).json()["data"]["total"] == 1
    # `~name` means "mine": the intruder has no iso-task, so it is not found.
    response = other.client.get("/actor-tasks/~iso-task")
    assert response.status_code == 404 and response.json()["error"]["type"] == "record-not-found"
    assert api.get("/actor-tasks/~iso-task").json()["data"]["id"] == ids["task"]
    # The same store name in another account is another store.
    theirs = other.client.post("/key-value-stores", params={"name": "iso-store"})
    assert theirs.status_code == 201
    assert theirs.json()["data"]["id"] != ids["store"]
    assert theirs.json()["data"]["userId"] == other.user_id
    assert (
        other.client.get(f"/key-value-stores/{other.username}~iso-store").json()["data"]["id"]
        == (theirs.json()["data"]["id"])
    )


# A process actor that hands its APIFY_TOKEN out through OUTPUT, then waits for the test's GO record.
TOKEN_MAIN = """\
import json, os, time, urllib.error, urllib.request

base = os.environ["APIFY_API_BASE_URL"]
records = base + "/v2/key-value-stores/" + os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"] + "/records/"
auth = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}
body = json.dumps({"token": os.environ["APIFY_TOKEN"]}).encode()
headers = {**auth, "Content-Type": "application/json"}
put = urllib.request.Request(records + "OUTPUT", data=body, method="PUT", headers=headers)
urllib.request.urlopen(put).close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(urllib.request.Request(records + "GO", headers=auth)).close()
        break
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        time.sleep(0.02)
"""


def _wait_for_record(api: httpx.Client, store_id: str, key: str, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = api.get(f"/key-value-stores/{store_id}/records/{key}")
        if response.status_code == 200:
            return response
        time.sleep(0.02)
    raise AssertionError(f"record {key} did not appear in {timeout_s} s")


def test_run_token_works_during_the_run_and_dies_with_it(api, account, stack) -> None:
    actor = api.post("/acts", json=files_actor("token-leak", {"main.py": TOKEN_MAIN})).json()["data"]
    started = api.post(f"/acts/{actor['id']}/runs")
    assert started.status_code == 201, started.text
    run = started.json()["data"]
    store = run["defaultKeyValueStoreId"]
    run_token = _wait_for_record(api, store, "OUTPUT").json()["token"]
    assert run_token and run_token != account.token

    # While the run goes (it waits for GO), its token is the owner's.
    me = f"{stack.url}/v2/users/me"
    during = httpx.get(me, headers={"Authorization": f"Bearer {run_token}"})
    assert during.status_code == 200, during.text
    assert during.json()["data"]["id"] == account.user_id
    assert api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] == "RUNNING"

    assert api.put(f"/key-value-stores/{store}/records/GO", content=b"1").status_code == 201
    finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 60}).json()["data"]
    assert finished["status"] == "SUCCEEDED", finished
    for kwargs in ({"headers": {"Authorization": f"Bearer {run_token}"}}, {"params": {"token": run_token}}):
        after = httpx.get(me, **kwargs)
        assert after.status_code == 401, after.text
        assert after.json()["error"]["type"] == "user-or-token-not-found"
        stale = httpx.get(f"{stack.url}/v2/key-value-stores/{store}/records/OUTPUT", **kwargs)
        assert stale.status_code == 401
    # The owner's own token is untouched.
    assert api.get("/users/me").status_code == 200
