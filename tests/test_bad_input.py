"""Bad requests: the right 4xx, Apify's error envelope, and not one row written.

Each test sends a batch of bad requests, collects every answer that is off, and checks the user's rows
(tests/rows.py) are exactly as before the batch.
"""

from __future__ import annotations

import base64
import gzip
import json

import httpx
import pytest

from tests.actors import callable_actor, files_actor
from tests.rows import counts, snapshot

UNKNOWN = "AAAAAAAAAAAAAAAAA"
TASK_GONE = ("record-not-found", "Actor task was not found")
RUN_GONE = ("record-not-found", "Actor run was not found")
ACTOR_GONE = ("record-not-found", "Actor was not found")
STORE_GONE = ("record-not-found", None)
KEY_BAD = ("invalid-record-key", "Record key contains invalid character")
INVALID = ("invalid-input", None)
NOT_OBJECT = ("invalid-request", "POST data must be a JSON object")
TOO_LARGE = ("request-too-large", None)
JSON_HEADERS = {"Content-Type": "application/json"}


def _b64(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode()


def problem(response: httpx.Response, status: int, error: tuple[str | None, str | None]) -> str | None:
    """What is wrong with this error answer, or None when it is the expected status and envelope."""
    where = f"{response.request.method} {response.request.url}"
    if response.status_code != status:
        return f"{where}: {response.status_code} {response.text[:200]}"
    if response.request.method == "HEAD":
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"{where}: content-type {response.headers.get('content-type')}"
    body = response.json()
    if set(body) != {"error"} or not {"type", "message"} <= set(body["error"]):
        return f"{where}: not an error envelope: {body}"
    if not isinstance(body["error"]["message"], str) or not body["error"]["message"]:
        return f"{where}: empty message: {body}"
    error_type, message = error
    if error_type is not None and body["error"]["type"] != error_type:
        return f"{where}: type {body['error']['type']!r}, expected {error_type!r}"
    if message is not None and body["error"]["message"] != message:
        return f"{where}: message {body['error']['message']!r}, expected {message!r}"
    return None


class Batch:
    """Send bad requests and collect what is off; done() asserts nothing was off and nothing was written."""

    def __init__(self, api: httpx.Client, db, user_id: str):
        self.api, self.db, self.user_id = api, db, user_id
        self.problems: list[str] = []
        self.before = snapshot(db, user_id)

    def expect(
        self, method: str, url, status: int, error: tuple[str | None, str | None], **kwargs
    ) -> httpx.Response:
        response = self.api.request(method, url, **kwargs)
        found = problem(response, status, error)
        if found:
            self.problems.append(found)
        return response

    def done(self) -> None:
        assert self.problems == []
        assert snapshot(self.db, self.user_id) == self.before, "a rejected request wrote something"


@pytest.fixture
def things(api) -> dict:
    """An actor, a task on it and a named store holding KEEP = b"old"; no runs."""
    actor = api.post("/acts", json=callable_actor("bad-input", "noop"))
    assert actor.status_code == 201, actor.text
    task = api.post(
        "/actor-tasks", json={"actId": actor.json()["data"]["id"], "name": "bad-task", "input": {"a": 1}}
    )
    assert task.status_code == 201, task.text
    store = api.post("/key-value-stores", params={"name": "bad-store"}).json()["data"]
    put = api.put(
        f"/key-value-stores/{store['id']}/records/KEEP",
        content=b"old",
        headers={"Content-Type": "text/plain"},
    )
    assert put.status_code == 201
    return {"actor": actor.json()["data"]["id"], "task": task.json()["data"]["id"], "store": store["id"]}


@pytest.fixture
def batch(api, db, account, things) -> Batch:
    """Taken after `things` exist: the snapshot is what no bad request may change."""
    return Batch(api, db, account.user_id)


# --- unknown ids ------------------------------------------------------------------------------------

UNKNOWN_IDS = [
    ("GET", "/acts/{x}", ACTOR_GONE),
    ("GET", "/actors/{x}", ACTOR_GONE),
    ("POST", "/acts/{x}/runs", ACTOR_GONE),
    ("POST", "/actors/{x}/run-sync", ACTOR_GONE),
    ("GET", "/acts/{x}/run-sync", ACTOR_GONE),
    ("GET", "/actor-tasks/{x}", TASK_GONE),
    ("PUT", "/actor-tasks/{x}", TASK_GONE),
    ("DELETE", "/actor-tasks/{x}", TASK_GONE),
    ("GET", "/actor-tasks/{x}/input", TASK_GONE),
    ("PUT", "/actor-tasks/{x}/input", TASK_GONE),
    ("POST", "/actor-tasks/{x}/runs", TASK_GONE),
    ("POST", "/actor-tasks/{x}/run-sync", TASK_GONE),
    ("GET", "/actor-runs/{x}", RUN_GONE),
    ("PUT", "/actor-runs/{x}", RUN_GONE),
    ("GET", "/actor-runs/{x}/log", RUN_GONE),
    ("GET", "/logs/{x}", RUN_GONE),
    ("GET", "/key-value-stores/{x}", STORE_GONE),
    ("GET", "/key-value-stores/{x}/records/KEY", STORE_GONE),
    ("HEAD", "/key-value-stores/{x}/records/KEY", STORE_GONE),
    ("PUT", "/key-value-stores/{x}/records/KEY", STORE_GONE),
    ("DELETE", "/key-value-stores/{x}/records/KEY", STORE_GONE),
    ("GET", "/datasets/{x}", STORE_GONE),
    ("GET", "/datasets/{x}/items", STORE_GONE),
    ("POST", "/datasets/{x}/items", STORE_GONE),
]
ODD_IDS = [UNKNOWN, "~nope", "someone~nope", "x" * 300, "%E2%82%AC", "a~b~c"]


def _send_unknown(batch: Batch, refs: list[str]) -> None:
    for ref in refs:
        for method, path, error in UNKNOWN_IDS:
            kwargs = {"json": {"x": 1}} if method in ("PUT", "POST") else {}
            batch.expect(method, path.format(x=ref), 404, error, **kwargs)


def test_unknown_ids_are_404(batch) -> None:
    _send_unknown(batch, ODD_IDS)
    batch.done()


def test_nul_in_an_id_is_404(batch) -> None:
    _send_unknown(batch, ["%00", "abc%00def"])
    batch.done()


# --- record keys -------------------------------------------------------------------------------------

BAD_KEYS = ["k" * 257, "hello%20world", "%C3%A9t%C3%A9", "a%3Fb", "a%23b", "a%2Cb", "a%00b", "a:b", "%22q%22"]


def test_invalid_record_keys_are_400(batch, things) -> None:
    store = things["store"]
    for key in BAD_KEYS:
        for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
            batch.expect(method, f"/key-value-stores/{store}/records/{key}", 400, KEY_BAD, content=b"value")
    batch.done()


def test_encoded_slash_in_record_key_is_400(batch, things) -> None:
    for method in ("GET", "PUT", "DELETE"):
        batch.expect(method, f"/key-value-stores/{things['store']}/records/a%2Fb", 400, KEY_BAD, content=b"v")
    batch.done()


def test_every_allowed_key_character_and_256_chars_are_fine(api, things) -> None:
    for key in ("k" * 256, "aZ09!-_.'()"):
        url = f"/key-value-stores/{things['store']}/records/{key}"
        assert api.put(url, content=b"v").status_code == 201
        assert api.get(url).content == b"v"


# --- run parameters ------------------------------------------------------------------------------

BAD_RUN_PARAMS = [
    {"memory": "100"},
    {"memory": "3000"},
    {"memory": "65536"},
    {"memory": "abc"},
    {"memory": "-1024"},
    {"timeout": "-1"},
    {"timeout": "abc"},
    {"timeout": "nan"},
    {"timeout": "inf"},
    {"maxItems": "abc"},
    {"maxItems": "-1"},
    {"maxTotalChargeUsd": "lots"},
    {"restartOnError": "maybe"},
    {"build": "\x00"},
    {"webhooks": "!!! not base64 !!!"},
    {"webhooks": _b64(b"this is not json")},
    {"webhooks": _b64({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "requestUrl": "https://example.com"})},
    {"webhooks": _b64([{"eventTypes": ["ACTOR.RUN.SUCCEEDED"]}])},
    {"webhooks": _b64([{"requestUrl": "https://example.com/hook"}])},
    {"webhooks": _b64([{"requestUrl": "https://example.com/hook", "eventTypes": []}])},
    {"webhooks": _b64([{"requestUrl": "not a url", "eventTypes": ["ACTOR.RUN.FAILED"]}])},
    {"webhooks": _b64(["https://example.com/hook"])},
]


def test_bad_run_parameters_are_400_and_start_nothing(batch, things) -> None:
    endpoints = [
        f"/actor-tasks/{things['task']}/runs",
        f"/actor-tasks/{things['task']}/run-sync",
        f"/acts/{things['actor']}/runs",
        f"/actors/{things['actor']}/run-sync",
    ]
    for params in BAD_RUN_PARAMS:
        for url in endpoints:
            batch.expect("POST", url, 400, INVALID, params=params, json={"b": 2})
    batch.done()


def test_bad_wait_for_finish_is_400(batch, things) -> None:
    for value in ("abc", "-5", "nan"):
        for url in (f"/actor-tasks/{things['task']}/runs", f"/acts/{things['actor']}/runs"):
            batch.expect("POST", url, 400, INVALID, params={"waitForFinish": value})
    batch.done()


def test_bad_output_record_key_is_400_and_starts_nothing(batch, things) -> None:
    for key in ("a b", "k" * 257, "a/b", "é", "a\x00"):
        for url in (f"/actor-tasks/{things['task']}/run-sync", f"/acts/{things['actor']}/run-sync"):
            batch.expect("POST", url, 400, ("invalid-record-key", None), params={"outputRecordKey": key})
    batch.done()


def test_unknown_build_tag_is_404_and_starts_nothing(batch, things) -> None:
    message = 'Build with tag "nope" was not found. Has the Actor been built already?'
    for url in (
        f"/actor-tasks/{things['task']}/runs",
        f"/actor-tasks/{things['task']}/run-sync",
        f"/acts/{things['actor']}/runs",
        f"/acts/{things['actor']}/run-sync",
    ):
        batch.expect("POST", url, 404, ("unknown-build-tag", message), params={"build": "nope"})
    batch.expect(
        "POST", f"/acts/{things['actor']}/runs", 404, ("unknown-build-tag", None), params={"build": "0.0.9"}
    )
    batch.done()


def test_task_saved_with_unknown_build_fails_at_run_start(api, db, account, things) -> None:
    task = api.post(
        "/actor-tasks", json={"actId": things["actor"], "name": "nobuild", "options": {"build": "beta"}}
    )
    assert task.status_code == 201
    before = counts(db, account.user_id)
    response = api.post(f"/actor-tasks/{task.json()['data']['id']}/runs")
    assert (
        problem(
            response,
            404,
            ("unknown-build-tag", 'Build with tag "beta" was not found. Has the Actor been built already?'),
        )
        is None
    )
    assert counts(db, account.user_id) == before


# --- bodies ------------------------------------------------------------------------------------------


def test_task_run_body_must_be_an_object(batch, things) -> None:
    for body in (b"[1, 2]", b'"a string"', b"42", b"true"):
        for suffix in ("runs", "run-sync"):
            url = f"/actor-tasks/{things['task']}/{suffix}"
            batch.expect("POST", url, 400, NOT_OBJECT, content=body, headers=JSON_HEADERS)
    batch.done()


def test_invalid_json_is_400(batch, things) -> None:
    targets = [
        ("POST", "/acts"),
        ("POST", "/actor-tasks"),
        ("PUT", f"/actor-tasks/{things['task']}"),
        ("PUT", f"/actor-tasks/{things['task']}/input"),
        ("POST", f"/actor-tasks/{things['task']}/runs"),
        ("POST", f"/actor-tasks/{things['task']}/run-sync"),
        ("POST", f"/acts/{things['actor']}/runs"),
        ("PUT", f"/actor-runs/{UNKNOWN}"),
    ]
    for body in (b"{not json", b'{"a": 1', b"\xff\xfe{}", b"{'a': 1}", b'{"a": 1} trailing'):
        for method, url in targets:
            batch.expect(method, url, 400, ("invalid-request", None), content=body, headers=JSON_HEADERS)
    batch.done()


def test_bodies_that_must_be_objects(batch, things) -> None:
    """POST /acts, POST /actor-tasks, PUT /actor-tasks/:id and PUT .../input take a JSON object only."""
    for method, url in (
        ("POST", "/acts"),
        ("POST", "/actor-tasks"),
        ("PUT", f"/actor-tasks/{things['task']}"),
        ("PUT", f"/actor-tasks/{things['task']}/input"),
    ):
        for body in ([{"actId": things["actor"], "name": "x-task"}], "x", 3, None):
            batch.expect(
                method, url, 400, NOT_OBJECT, content=json.dumps(body).encode(), headers=JSON_HEADERS
            )
    batch.done()


def _version(**changes: object) -> dict:
    return {
        "versionNumber": "0.0",
        "sourceType": "PYTHON_CALLABLE",
        "callable": "tests.actors:noop",
        **changes,
    }


BAD_ACTORS = [
    {"name": "valid-name"},
    {"name": "valid-name", "versions": []},
    {"name": "valid-name", "versions": {"versionNumber": "0.0"}},
    {"versions": [_version()]},
    {"name": "ab", "versions": [_version()]},
    {"name": "a" * 64, "versions": [_version()]},
    {"name": "has space", "versions": [_version()]},
    {"name": "-dash-first", "versions": [_version()]},
    {"name": "a/b/c", "versions": [_version()]},
    {"name": "me~you", "versions": [_version()]},
    {"name": "valid-name", "versions": [_version(versionNumber="1")]},
    {"name": "valid-name", "versions": [_version(versionNumber="01.0")]},
    {"name": "valid-name", "versions": [_version(versionNumber="1.2.3")]},
    {"name": "valid-name", "versions": [_version(versionNumber=1.0)]},
    {"name": "valid-name", "versions": [_version(), _version()]},
    {"name": "valid-name", "versions": [_version(sourceType="GIT_REPO")]},
    {"name": "valid-name", "versions": [_version(callable="os.system")]},
    {"name": "valid-name", "versions": [_version(envVars=[{"value": "no name"}])]},
    {"name": "valid-name", "versions": ["0.0"]},
    files_actor("valid-name", {"../../etc/passwd": "x"}),
    files_actor("valid-name", {"/etc/passwd": "x"}),
    files_actor("valid-name", {"src/../../x.py": "x"}),
    files_actor("valid-name", {"..\\evil.py": "x"}),
    files_actor("valid-name", {"": "x"}),
    files_actor("valid-name", {"a\x00b.py": "x"}),
    {**callable_actor("valid-name", "noop"), "defaultRunOptions": {"memoryMbytes": 3000}},
    {**callable_actor("valid-name", "noop"), "defaultRunOptions": {"timeoutSecs": -1}},
    {**callable_actor("valid-name", "noop"), "defaultRunOptions": {"build": "\x00"}},
    {**callable_actor("valid-name", "noop"), "title": "t" * 256},
    {**callable_actor("valid-name", "noop"), "title": 5},
    {**callable_actor("valid-name", "noop"), "description": "nul \x00 inside"},
]


def test_bad_actors_are_400(batch) -> None:
    for body in BAD_ACTORS:
        batch.expect("POST", "/acts", 400, INVALID, json=body)
    batch.done()


def test_duplicate_actor_name_is_409(batch) -> None:
    batch.expect(
        "POST", "/actors", 409, ("actor-name-not-unique", None), json=callable_actor("bad-input", "noop")
    )
    batch.done()


def test_task_create_with_unknown_actor_is_404(batch, account) -> None:
    for act_id in (UNKNOWN, "~nope", f"{account.username}~nope", "someone~bad-input"):
        batch.expect("POST", "/actor-tasks", 404, ACTOR_GONE, json={"actId": act_id, "name": "orphan"})
    batch.done()


def test_bad_tasks_are_400(batch, things) -> None:
    act = things["actor"]
    for body in (
        {"name": "a-task"},
        {"actId": 5, "name": "a-task"},
        {"actId": "", "name": "a-task"},
        {"actId": act},
        {"actId": act, "name": "a task"},
        {"actId": act, "name": "ab"},
        {"actId": act, "name": "a-task", "input": [1, 2]},
        {"actId": act, "name": "a-task", "input": "x"},
        {"actId": act, "name": "a-task", "options": [1]},
        {"actId": act, "name": "a-task", "options": {"memoryMbytes": 100}},
        {"actId": act, "name": "a-task", "options": {"memoryMbytes": "1024"}},
        {"actId": act, "name": "a-task", "options": {"timeoutSecs": "60"}},
        {"actId": act, "name": "a-task", "options": {"timeoutSecs": -1}},
        {"actId": act, "name": "a-task", "options": {"build": 1}},
        {"actId": act, "name": "a-task", "options": {"build": "\x00"}},
        {"actId": act, "name": "a-task", "title": "t" * 256},
        {"actId": act, "name": "a-task", "title": ["not", "text"]},
    ):
        batch.expect("POST", "/actor-tasks", 400, INVALID, json=body)
    batch.done()


def test_bad_task_updates_are_400_and_change_nothing(batch, things) -> None:
    url = f"/actor-tasks/{things['task']}"
    for body in (
        {"name": "a task"},
        {"title": "changed", "name": "-bad"},
        {"input": [1]},
        {"options": {"memoryMbytes": 100}},
        {"title": "t" * 256},
    ):
        batch.expect("PUT", url, 400, INVALID, json=body)
    batch.done()


def test_duplicate_task_name_is_409(api, batch, things) -> None:
    error = ("actor-task-name-not-unique", "Record with the given name already exists.")
    batch.expect("POST", "/actor-tasks", 409, error, json={"actId": things["actor"], "name": "bad-task"})
    batch.done()
    # Renaming another task onto the name is refused too (and the whole update is dropped).
    assert api.post("/actor-tasks", json={"actId": things["actor"], "name": "second"}).status_code == 201
    again = Batch(api, batch.db, batch.user_id)
    again.expect("PUT", "/actor-tasks/~second", 409, error, json={"name": "bad-task", "title": "renamed"})
    again.done()


def test_bad_store_names_are_400(batch) -> None:
    for name in ("x" * 64, "a b", "a/b", "a_b", "-x", "nul\x00", "é"):
        batch.expect("POST", "/key-value-stores", 400, INVALID, params={"name": name})
    batch.done()


def test_bad_status_message_is_400(api, db, account, things) -> None:
    run = api.post(f"/actor-tasks/{things['task']}/runs", params={"waitForFinish": 30}).json()["data"]
    before = snapshot(db, account.user_id)
    for body in ({"statusMessage": 5}, {"statusMessage": "nul\x00"}):
        assert problem(api.put(f"/actor-runs/{run['id']}", json=body), 400, INVALID) is None
    assert snapshot(db, account.user_id) == before


# --- encodings and sizes -------------------------------------------------------------------------


def test_unsupported_content_encoding_is_415(batch, things) -> None:
    error = ("unsupported-content-encoding", 'Content-Encoding "bla" is not supported.')
    headers = {"Content-Encoding": "bla", "Content-Type": "application/json"}
    body = b'{"actId": "x", "name": "enc-task"}'
    for method, url in (
        ("POST", "/actor-tasks"),
        ("POST", "/acts"),
        ("PUT", f"/actor-tasks/{things['task']}"),
        ("PUT", f"/actor-tasks/{things['task']}/input"),
        ("POST", f"/actor-tasks/{things['task']}/runs"),
        ("POST", f"/actor-tasks/{things['task']}/run-sync"),
        ("POST", f"/acts/{things['actor']}/runs"),
        ("PUT", f"/key-value-stores/{things['store']}/records/KEEP"),
        ("POST", f"/key-value-stores/{things['store']}/records/NEW"),
    ):
        batch.expect(method, url, 415, error, content=body, headers=headers)
    batch.done()


def test_corrupt_encoded_body_is_400(batch, things) -> None:
    for encoding in ("gzip", "br", "deflate"):
        headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
        for url in (f"/actor-tasks/{things['task']}/runs", "/actor-tasks"):
            batch.expect("POST", url, 400, ("invalid-request", None), content=b"\x00garbage", headers=headers)
    batch.done()


def test_overlong_content_type_is_400(batch, things) -> None:
    headers = {"Content-Type": "text/plain; x=" + "a" * 300}
    batch.expect(
        "PUT",
        f"/key-value-stores/{things['store']}/records/KEEP",
        400,
        ("invalid-request", None),
        content=b"x",
        headers=headers,
    )
    batch.expect(
        "POST", f"/acts/{things['actor']}/runs", 400, ("invalid-request", None), content=b"x", headers=headers
    )
    batch.done()


def test_record_over_the_limit_is_413_and_keeps_the_old_value(api, batch, things) -> None:
    url = f"/key-value-stores/{things['store']}/records/KEEP"
    big = b"x" * (10 * 1024 * 1024)
    response = batch.expect("PUT", url, 413, TOO_LARGE, content=big)
    assert "9437184" in response.json()["error"]["message"]
    batch.expect("POST", f"/key-value-stores/{things['store']}/records/NEW", 413, TOO_LARGE, content=big)

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b"y" * (1024 * 1024)

    batch.expect("PUT", url, 413, TOO_LARGE, content=chunks())
    kept = api.get(url)
    assert kept.status_code == 200 and kept.content == b"old"
    assert api.head(f"/key-value-stores/{things['store']}/records/NEW").status_code == 404
    batch.done()


def test_json_body_over_the_limit_after_decoding_is_413(batch, things) -> None:
    """A small gzip body that inflates past the limit (a zip bomb) is refused, not stored."""
    bomb = gzip.compress(b'{"pad": "' + b" " * (10 * 1024 * 1024) + b'"}')
    assert len(bomb) < 100_000
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    for method, url in (
        ("POST", f"/actor-tasks/{things['task']}/runs"),
        ("POST", f"/acts/{things['actor']}/runs"),
        ("PUT", f"/actor-tasks/{things['task']}/input"),
        ("POST", "/actor-tasks"),
    ):
        batch.expect(method, url, 413, TOO_LARGE, content=bomb, headers=headers)
    batch.done()


# --- routing -------------------------------------------------------------------------------------


def test_unknown_route_is_404_in_the_envelope(batch) -> None:
    for path in ("/nope", "/acts/x/y/z", "/actor-tasks/x/nope", "/key-value-stores/x/nope", "/v2/acts"):
        batch.expect("GET", path, 404, ("page-not-found", None))
    response = batch.api.get(batch.api.base_url.copy_with(path="/v3/acts"))
    assert problem(response, 404, ("page-not-found", None)) is None
    batch.done()


def test_wrong_method_is_405_in_the_envelope(batch, things) -> None:
    for method, path in (
        ("DELETE", "/acts"),
        ("PUT", "/acts"),
        ("PATCH", f"/actor-tasks/{things['task']}"),
        ("PATCH", f"/actor-runs/{UNKNOWN}"),
        ("DELETE", "/actor-runs"),
        ("PUT", f"/actor-tasks/{things['task']}/runs"),
        ("GET", f"/actor-runs/{UNKNOWN}/abort"),
        ("DELETE", "/users/me"),
    ):
        batch.expect(method, path, 405, ("method-not-allowed", None), json={"x": 1})
    batch.done()
