"""The webhooks API on the session's Greenroom (default settings: private addresses refused): CRUD,
idempotencyKey, bad input (400, nothing written, no run), the address guard, isolation."""

from __future__ import annotations

import httpx
import pytest

from server.storage.db import SyncDatabase
from tests.actors import callable_actor
from tests.conftest import Account
from tests.rows import counts, snapshot
from tests.webhooks.webhooks_support import b64, dispatch_when_done, receiving

PUBLIC_URL = "https://hooks.example.com/in"
RUN_END = ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED"]


@pytest.fixture
def actor(api: httpx.Client) -> dict:
    made = api.post("/acts", json=callable_actor("hooked", "noop"))
    assert made.status_code == 201, made.text
    return dict(made.json()["data"])


def _hook(actor: dict, **fields: object) -> dict:
    return {"eventTypes": RUN_END, "condition": {"actorId": actor["id"]}, "requestUrl": PUBLIC_URL} | fields


def test_crud_and_lists(api: httpx.Client, actor: dict) -> None:
    made = api.post("/webhooks", json=_hook(actor, description="first"))
    assert made.status_code == 201, made.text
    hook = made.json()["data"]
    assert hook["condition"] == {"actorId": actor["id"]} and hook["isAdHoc"] is False
    assert hook["payloadTemplate"].startswith('{\n    "userId": {{userId}},')  # Apify's default
    assert hook["lastDispatch"] is None and hook["stats"] == {"totalDispatches": 0}
    assert api.get(f"/webhooks/{hook['id']}").json()["data"] == hook
    # PUT is partial; an empty condition (what the clients send when not changing it) keeps it.
    changed = api.put(f"/webhooks/{hook['id']}", json={"eventTypes": ["ACTOR.RUN.ABORTED"], "condition": {}})
    assert changed.status_code == 200, changed.text
    changed_hook = changed.json()["data"]
    assert changed_hook["eventTypes"] == ["ACTOR.RUN.ABORTED"] and changed_hook["description"] == "first"
    assert changed_hook["condition"] == {"actorId": actor["id"]}
    assert changed_hook["modifiedAt"] >= hook["modifiedAt"]
    others = [api.post("/webhooks", json=_hook(actor, description=f"n{i}")).json()["data"] for i in range(2)]
    page = api.get("/webhooks", params={"limit": 2, "offset": 1, "desc": 1}).json()["data"]
    assert page["total"] == 3 and page["count"] == 2 and page["desc"] is True
    assert [w["id"] for w in page["items"]] == [others[0]["id"], hook["id"]]
    by_actor = api.get(f"/actors/{actor['id']}/webhooks").json()["data"]
    assert by_actor["total"] == 3
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 204
    gone = api.get(f"/webhooks/{hook['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "record-not-found"
    assert api.get("/webhooks").json()["data"]["total"] == 2


def test_the_same_idempotency_key_gives_the_same_webhook(
    api: httpx.Client, db: SyncDatabase, account: Account, actor: dict
) -> None:
    first = api.post("/webhooks", json=_hook(actor, idempotencyKey="key-1"))
    again = api.post("/webhooks", json=_hook(actor, idempotencyKey="key-1", description="ignored"))
    assert first.status_code == again.status_code == 201
    assert again.json()["data"] == first.json()["data"]
    assert api.get("/webhooks").json()["data"]["total"] == 1
    # Ad hoc: a run start retried with the same key does not attach a second webhook.
    ad_hoc = [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "idempotencyKey": "run-key"}]
    for _ in range(2):
        started = api.post(f"/acts/{actor['id']}/runs", params={"webhooks": b64(ad_hoc)})
        assert started.status_code == 201, started.text
    assert counts(db, account.user_id)["webhooks"] == 2
    ad_hoc_hooks = [w for w in api.get("/webhooks").json()["data"]["items"] if w["isAdHoc"]]
    assert [w["idempotencyKey"] for w in ad_hoc_hooks] == ["run-key"]


BAD_AD_HOC = [
    [{"eventTypes": ["ACTOR.RUN.EXPLODED"], "requestUrl": PUBLIC_URL}],
    [{"eventTypes": RUN_END, "requestUrl": "ftp://example.com/x"}],
    [{"eventTypes": RUN_END, "requestUrl": "https://"}],
    [{"eventTypes": RUN_END, "requestUrl": "https://exa mple.com/"}],
    [{"eventTypes": RUN_END, "requestUrl": "http://127.0.0.1:8000/v2/acts"}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "payloadTemplate": '{"a": {{resource}'}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "payloadTemplate": '{"a": {{secrets}}}'}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "payloadTemplate": "not json"}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "headersTemplate": "[1, 2]"}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "headersTemplate": '{"bad name": "x"}'}],
    [
        {
            "eventTypes": RUN_END,
            "requestUrl": PUBLIC_URL,
            "payloadTemplate": '{"a": "{{nope}}"}',
            "shouldInterpolateStrings": True,
        }
    ],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "doNotRetry": "yes"}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "signingSecret": "short"}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL, "idempotencyKey": ""}],
    [{"eventTypes": RUN_END, "requestUrl": PUBLIC_URL}] * 101,
]


def _is_400(response: httpx.Response) -> bool:
    body = response.json()
    return response.status_code == 400 and set(body) == {"error"} and body["error"]["type"] == "invalid-input"


def test_bad_ad_hoc_webhooks_are_400_and_no_run_is_created(
    api: httpx.Client, db: SyncDatabase, account: Account, actor: dict
) -> None:
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": "hook-task"}).json()["data"]
    before = snapshot(db, account.user_id)
    urls = [
        f"/acts/{actor['id']}/runs",
        f"/acts/{actor['id']}/run-sync",
        f"/actors/{actor['id']}/run-sync-get-dataset-items",
        f"/actor-tasks/{task['id']}/runs",
        f"/actor-tasks/{task['id']}/run-sync",
        f"/actor-tasks/{task['id']}/run-sync-get-dataset-items",
    ]
    wrong = [
        (url, hooks, response.text)
        for hooks in BAD_AD_HOC
        for url in urls
        if not _is_400(response := api.post(url, params={"webhooks": b64(hooks)}))
    ]
    assert wrong == []
    assert snapshot(db, account.user_id) == before, "a rejected run start wrote something"


def test_bad_webhook_bodies_are_4xx_and_write_nothing(
    api: httpx.Client, db: SyncDatabase, account: Account, actor: dict
) -> None:
    hook = api.post("/webhooks", json=_hook(actor)).json()["data"]
    before = snapshot(db, account.user_id)
    bad_posts = [
        ({"eventTypes": RUN_END, "requestUrl": PUBLIC_URL}, 400),  # no condition
        (_hook(actor, condition={}), 400),
        (_hook(actor, condition={"actorId": "AAAAAAAAAAAAAAAAA"}), 404),
        (_hook(actor, condition={"actorTaskId": "~nope"}), 404),
        (_hook(actor, condition={"actorRunId": "AAAAAAAAAAAAAAAAA"}), 404),
        (_hook(actor, eventTypes=[]), 400),
        (_hook(actor, requestUrl="http://10.0.0.8/in"), 400),
        (_hook(actor, requestUrl="http://[::ffff:169.254.169.254]/latest/meta-data"), 400),
        (_hook(actor, headersTemplate='{"X-A": {{resource}}'), 400),
        (_hook(actor, description=7), 400),
    ]
    wrong = [
        (body, r.status_code, r.text)
        for body, status in bad_posts
        if (r := api.post("/webhooks", json=body)).status_code != status
    ]
    for body, status in [
        ({"requestUrl": "gopher://x"}, 400),
        ({"payloadTemplate": "{"}, 400),
        ({"condition": {"actorId": "~none"}}, 404),
    ]:
        r = api.put(f"/webhooks/{hook['id']}", json=body)
        if r.status_code != status:
            wrong.append((body, r.status_code, r.text))
    assert wrong == []
    assert snapshot(db, account.user_id) == before


def test_private_addresses_are_refused_without_the_operators_consent(api: httpx.Client, actor: dict) -> None:
    """The session's Greenroom has GREENROOM_WEBHOOK_ALLOW_PRIVATE unset: an IP literal is refused
    when saved; a host name that resolves to loopback when called, and nothing reaches it."""
    for url in (
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
    ):
        refused = api.post("/webhooks", json=_hook(actor, requestUrl=url))
        assert refused.status_code == 400 and "non-public" in refused.json()["error"]["message"], url
    with receiving() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        hook = api.post("/webhooks", json=_hook(actor, requestUrl=f"http://localhost:{port}/in")).json()[
            "data"
        ]
        dispatch = api.post(f"/webhooks/{hook['id']}/test").json()["data"]
        done = dispatch_when_done(api, dispatch["id"])
        assert receiver.requests == []
    assert done["status"] == "FAILED" and len(done["calls"]) == 1, "refused: no retries"
    assert "non-public" in done["calls"][0]["errorMessage"]
    assert done["calls"][0]["responseStatus"] is None


def test_other_users_webhooks_and_dispatches_are_not_found(
    api: httpx.Client, stack, db: SyncDatabase, actor: dict
) -> None:
    from server.users import create_user

    hook = api.post("/webhooks", json=_hook(actor)).json()["data"]
    dispatch = api.post(f"/webhooks/{hook['id']}/test").json()["data"]
    _, token = create_user(db, f"intruder{hook['id'][:6].lower()}")
    with stack.client(token, timeout=5) as intruder:
        for method, url in (
            ("GET", f"/webhooks/{hook['id']}"),
            ("PUT", f"/webhooks/{hook['id']}"),
            ("DELETE", f"/webhooks/{hook['id']}"),
            ("POST", f"/webhooks/{hook['id']}/test"),
            ("GET", f"/webhooks/{hook['id']}/dispatches"),
            ("GET", f"/webhook-dispatches/{dispatch['id']}"),
            ("GET", f"/acts/{actor['id']}/webhooks"),
        ):
            answer = intruder.request(method, url, json={} if method == "PUT" else None)
            assert answer.status_code == 404, (method, url, answer.text)
        assert intruder.get("/webhooks").json()["data"]["total"] == 0
        assert intruder.get("/webhook-dispatches").json()["data"]["total"] == 0
    assert api.get("/webhook-dispatches").json()["data"]["items"][0]["id"] == dispatch["id"]
