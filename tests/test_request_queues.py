"""Request queues over HTTP: add and dedupe, forefront order, head, locks, handled counts, batches,
errors, concurrency of adds, and the run's default queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from server.storage.request_queues import request_id_of
from tests.conftest import Account
from tests.stack import Stack


def _queue(api: httpx.Client, name: str | None = None) -> str:
    r = api.post("/request-queues", params={"name": name} if name else None)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["data"]["id"])


def _add(api: httpx.Client, queue: str, url: str, **params: str) -> dict:
    r = api.post(
        f"/request-queues/{queue}/requests", params=params, json={"url": url, "userData": {"u": url}}
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


def _counts(api: httpx.Client, queue: str) -> tuple[int, int, int]:
    data = api.get(f"/request-queues/{queue}").json()["data"]
    return data["totalRequestCount"], data["handledRequestCount"], data["pendingRequestCount"]


def _head(api: httpx.Client, queue: str, **params: str | int) -> list[str]:
    r = api.get(f"/request-queues/{queue}/head", params=params)
    assert r.status_code == 200, r.text
    return [item["url"] for item in r.json()["data"]["items"]]


def test_add_dedupe_forefront_and_head(api: httpx.Client) -> None:
    queue = _queue(api, "crawl")
    first = _add(api, queue, "https://a/1")
    assert first == {
        "requestId": request_id_of("https://a/1"),
        "wasAlreadyPresent": False,
        "wasAlreadyHandled": False,
    }
    assert _add(api, queue, "https://a/1")["wasAlreadyPresent"] is True
    _add(api, queue, "https://a/2")
    _add(api, queue, "https://a/front", forefront="true")
    assert _head(api, queue) == ["https://a/front", "https://a/1", "https://a/2"]
    assert _head(api, queue, limit=1) == ["https://a/front"]
    assert _counts(api, queue) == (3, 0, 3)
    got = api.get(f"/request-queues/{queue}/requests/{first['requestId']}").json()["data"]
    # Not handled: no handledAt at all, as on Apify (Crawlee's Request refuses a null one).
    assert got["url"] == "https://a/1" and got["userData"] == {"u": "https://a/1"} and "handledAt" not in got
    assert api.get("/request-queues/~crawl").json()["data"]["id"] == queue


def test_mark_handled_and_back(api: httpx.Client) -> None:
    queue = _queue(api)
    request_id = _add(api, queue, "https://b/1")["requestId"]
    body = {"url": "https://b/1", "uniqueKey": "https://b/1", "handledAt": "2026-01-01T00:00:00Z"}
    r = api.put(f"/request-queues/{queue}/requests/{request_id}", json=body)
    assert r.json()["data"] == {
        "requestId": request_id,
        "wasAlreadyPresent": True,
        "wasAlreadyHandled": False,
    }
    assert _counts(api, queue) == (1, 1, 0) and _head(api, queue) == []
    assert _add(api, queue, "https://b/1")["wasAlreadyHandled"] is True
    body["handledAt"] = None
    r = api.put(f"/request-queues/{queue}/requests/{request_id}", json=body)
    assert r.json()["data"]["wasAlreadyHandled"] is True
    assert _counts(api, queue) == (1, 0, 1) and _head(api, queue) == ["https://b/1"]
    assert api.delete(f"/request-queues/{queue}/requests/{request_id}").status_code == 204
    assert _counts(api, queue) == (0, 0, 0)
    assert api.get(f"/request-queues/{queue}/requests/{request_id}").status_code == 404


def test_an_update_replaces_the_request_moves_it_and_ends_its_lock_when_handled(api: httpx.Client) -> None:
    queue = _queue(api)
    ids = [_add(api, queue, f"https://e/{i}")["requestId"] for i in range(3)]
    r = api.post(f"/request-queues/{queue}/head/lock", params={"lockSecs": 60, "limit": 1, "clientKey": "a"})
    assert [i["id"] for i in r.json()["data"]["items"]] == [ids[0]]
    locked = f"/request-queues/{queue}/requests"
    assert [i["id"] for i in api.get(locked, params={"filter": "locked"}).json()["data"]["items"]] == [ids[0]]
    # Handled: out of the head, and its lock is gone.
    body = {"url": "https://e/0", "uniqueKey": "https://e/0", "handledAt": "2026-01-01T00:00:00Z"}
    assert api.put(f"{locked}/{ids[0]}", json=body).status_code == 200
    assert api.get(locked, params={"filter": "locked"}).json()["data"]["items"] == []
    assert _head(api, queue) == ["https://e/1", "https://e/2"]
    # Replaced at the forefront: first in the head, with what the update sent.
    body = {"url": "https://e/2", "uniqueKey": "https://e/2", "userData": {"new": True}}
    assert api.put(f"{locked}/{ids[2]}", params={"forefront": "true"}, json=body).status_code == 200
    assert _head(api, queue) == ["https://e/2", "https://e/1"]
    stored = api.get(f"{locked}/{ids[2]}").json()["data"]
    assert stored["userData"] == {"new": True} and "handledAt" not in stored
    assert _counts(api, queue) == (3, 1, 2)


def test_locks(api: httpx.Client) -> None:
    queue = _queue(api)
    for i in range(3):
        _add(api, queue, f"https://c/{i}")
    r = api.post(
        f"/request-queues/{queue}/head/lock", params={"lockSecs": 60, "limit": 2, "clientKey": "one"}
    )
    assert r.status_code == 201, r.text
    locked = r.json()["data"]
    assert [i["url"] for i in locked["items"]] == ["https://c/0", "https://c/1"]
    assert all(i["lockExpiresAt"] for i in locked["items"]) and locked["queueHasLockedRequests"] is True
    assert _head(api, queue) == ["https://c/2"]  # locked requests are out of the head
    lock = f"/request-queues/{queue}/requests/{locked['items'][0]['id']}/lock"
    assert api.put(lock, params={"lockSecs": 120, "clientKey": "two"}).status_code == 403
    prolonged = api.put(lock, params={"lockSecs": 120, "clientKey": "one"})
    assert (
        prolonged.status_code == 200
        and prolonged.json()["data"]["lockExpiresAt"] > locked["items"][0]["lockExpiresAt"]
    )
    assert api.delete(lock, params={"clientKey": "one", "forefront": "true"}).status_code == 204
    assert _head(api, queue) == ["https://c/0", "https://c/2"]
    r = api.post(f"/request-queues/{queue}/requests/unlock", params={"clientKey": "one"})
    assert r.json()["data"] == {"unlockedCount": 1}
    # Unlocked in place: c/1 keeps its order number, still before c/2.
    assert _head(api, queue) == ["https://c/0", "https://c/1", "https://c/2"]
    assert api.get(f"/request-queues/{queue}").json()["data"]["hadMultipleClients"] is True


def test_batch_add_and_delete(api: httpx.Client) -> None:
    queue = _queue(api)
    batch = [{"url": f"https://d/{i}"} for i in range(3)] + [{"url": "https://d/0"}]
    r = api.post(f"/request-queues/{queue}/requests/batch", json=batch)
    assert r.status_code == 201, r.text
    processed = r.json()["data"]["processedRequests"]
    assert [p["wasAlreadyPresent"] for p in processed] == [False, False, False, True]
    assert r.json()["data"]["unprocessedRequests"] == []
    assert _counts(api, queue) == (3, 0, 3)
    gone = [{"uniqueKey": "https://d/0"}, {"id": processed[1]["requestId"]}]
    r = api.request("DELETE", f"/request-queues/{queue}/requests/batch", json=gone)
    assert r.status_code == 200 and len(r.json()["data"]["processedRequests"]) == 2
    assert _head(api, queue) == ["https://d/2"] and _counts(api, queue) == (1, 0, 1)
    listed = api.get(f"/request-queues/{queue}/requests").json()["data"]
    assert [i["url"] for i in listed["items"]] == ["https://d/2"]


def test_bad_input_writes_nothing(api: httpx.Client) -> None:
    queue = _queue(api)
    base = f"/request-queues/{queue}"
    assert api.post(f"{base}/requests", json={"nourl": 1}).json()["error"]["type"] == "invalid-input"
    assert api.post(f"{base}/requests", json={"url": "https://e", "method": "FETCH"}).status_code == 400
    too_many = [{"url": f"https://e/{i}"} for i in range(26)]
    assert api.post(f"{base}/requests/batch", json=too_many).status_code == 400
    assert api.post(f"{base}/requests/batch", json=[{"url": "https://e/ok"}, {"url": 5}]).status_code == 400
    assert api.post(f"{base}/head/lock", params={"limit": 1}).status_code == 400  # lockSecs missing
    assert api.post(f"{base}/head/lock", params={"lockSecs": 10, "limit": 26}).status_code == 400
    assert api.get(f"{base}/head", params={"clientKey": "x" * 33}).status_code == 400
    assert _counts(api, queue) == (0, 0, 0)
    missing = api.get("/request-queues/nope")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "record-not-found"
    assert api.get(f"{base}/requests/nope").status_code == 404


def test_concurrent_adds_keep_counts_true(stack: Stack, account: Account) -> None:
    with stack.client(account.token) as api:
        queue = _queue(api)

    def add(i: int) -> bool:
        with stack.client(account.token) as client:
            r = client.post(f"/request-queues/{queue}/requests", json={"url": f"https://f/{i % 10}"})
            assert r.status_code == 201, r.text
            return bool(r.json()["data"]["wasAlreadyPresent"])

    with ThreadPoolExecutor(8) as pool:
        present = list(pool.map(add, range(40)))
    assert present.count(False) == 10
    with stack.client(account.token) as api:
        assert _counts(api, queue) == (10, 0, 10)


def test_get_or_create_rename_delete(api: httpx.Client) -> None:
    created = api.post("/request-queues", params={"name": "q-life"})
    assert created.status_code == 201
    queue = created.json()["data"]["id"]
    assert api.post("/request-queues", params={"name": "q-life"}).status_code == 200
    assert [q["id"] for q in api.get("/request-queues").json()["data"]["items"]] == [queue]
    assert (
        api.put(f"/request-queues/{queue}", json={"name": "q-renamed"}).json()["data"]["name"] == "q-renamed"
    )
    assert api.delete(f"/request-queues/{queue}").status_code == 204
    assert api.get(f"/request-queues/{queue}").status_code == 404


def test_run_default_queue(api: httpx.Client) -> None:
    from tests.actors import callable_actor

    actor = api.post("/acts", json=callable_actor("rq-echo", "echo")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}, json={}).json()["data"]
    queue = api.get(f"/request-queues/{run['defaultRequestQueueId']}")
    assert queue.status_code == 200 and queue.json()["data"]["actRunId"] == run["id"]
    base = f"/actor-runs/{run['id']}/request-queue"
    assert api.post(f"{base}/requests", json={"url": "https://g/1"}).status_code == 201
    assert api.get(f"{base}/head").json()["data"]["items"][0]["url"] == "https://g/1"
    assert _counts(api, run["defaultRequestQueueId"]) == (1, 0, 1)
    assert api.delete(f"/actor-runs/{run['id']}").status_code == 204
    assert api.get(f"/request-queues/{run['defaultRequestQueueId']}").status_code == 404
