"""Webhooks end to end: real runs on a real Greenroom, calls to a real HTTP receiver on loopback.

The module runs its own Greenroom (conftest.py's hooks_stack: loopback receivers allowed, retries
0.3 s then 0.6 s, a 2 s call timeout, a fast sweeper); the session's stack keeps the default settings.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.actors import callable_actor, files_actor
from tests.conftest import Account
from tests.webhooks.webhooks_support import (
    DELAYS_S,
    Receiver,
    b64,
    dispatch_when_done,
    receiving,
    self_signed_certificate,
    verify,
)


def test_an_ad_hoc_webhook_gets_created_then_succeeded_with_apify_payload_and_headers(
    hooks_api: httpx.Client, hooks_account: Account
) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]
    with receiving() as receiver:
        hook = {
            "eventTypes": ["ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED"],
            "requestUrl": f"{receiver.url}/in",
        }
        answer = hooks_api.post(
            f"/acts/{actor['id']}/run-sync", params={"webhooks": b64([hook])}, json={"a": 1}
        )
        assert answer.status_code == 201, answer.text
        created, succeeded = receiver.wait_for(2)
        time.sleep(0.3)
        assert len(receiver.requests) == 2, "each transition fires once"
    run_id = created.json()["eventData"]["actorRunId"]
    run = hooks_api.get(f"/actor-runs/{run_id}").json()["data"]
    assert [r.json()["eventType"] for r in (created, succeeded)] == [
        "ACTOR.RUN.CREATED",
        "ACTOR.RUN.SUCCEEDED",
    ]
    for r in (created, succeeded):
        body = r.json()
        assert r.path == "/in"
        assert set(body) == {"userId", "createdAt", "eventType", "eventData", "resource"}
        assert body["userId"] == hooks_account.user_id
        assert body["eventData"] == {"actorId": actor["id"], "actorRunId": run_id}
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-apify-request-origin"] == "WEBHOOK"
        assert "x-greenroom-signature" not in r.headers  # no secret, no signature
    # resource: the run as the API shows it at that moment.
    assert created.json()["resource"]["status"] == "READY"
    assert created.json()["resource"]["id"] == run_id
    assert succeeded.json()["resource"] == run
    # The headers name the webhook (ad hoc, on this run) and the dispatch, which recorded the call.
    webhook = hooks_api.get(f"/webhooks/{created.headers['x-apify-webhook']}").json()["data"]
    assert webhook["isAdHoc"] is True and webhook["condition"] == {"actorRunId": run_id}
    assert succeeded.headers["x-apify-webhook"] == webhook["id"]
    dispatch = dispatch_when_done(hooks_api, succeeded.dispatch_id)
    assert dispatch["eventType"] == "ACTOR.RUN.SUCCEEDED" and dispatch["status"] == "SUCCEEDED"
    assert dispatch["webhookId"] == webhook["id"]
    assert [c["responseStatus"] for c in dispatch["calls"]] == [200]
    assert dispatch["webhook"]["requestUrl"] == f"{receiver.url}/in"
    listed = hooks_api.get(f"/webhooks/{webhook['id']}/dispatches").json()["data"]
    assert [d["eventType"] for d in listed["items"]] == ["ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED"]
    assert created.json()["createdAt"] == listed["items"][0]["createdAt"]


def test_a_failing_receiver_is_called_again_on_schedule_and_every_call_is_recorded(
    hooks_api: httpx.Client,
) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("flaky", "noop")).json()["data"]
    with receiving([500, 503]) as receiver:
        hook = {
            "eventTypes": ["ACTOR.RUN.SUCCEEDED"],
            "condition": {"actorId": actor["id"]},
            "requestUrl": f"{receiver.url}/flaky",
        }
        made = hooks_api.post("/webhooks", json=hook)
        assert made.status_code == 201, made.text
        assert made.headers["location"].endswith(f"/v2/webhooks/{made.json()['data']['id']}")
        run = hooks_api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
        assert run["status"] == "SUCCEEDED"
        calls = receiver.wait_for(3)
        time.sleep(0.5)
        assert len(receiver.requests) == 3
    assert len({c.dispatch_id for c in calls}) == 1
    assert len({c.body for c in calls}) == 1, "every call sends the same payload"
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= DELAYS_S[0] and gaps[1] >= DELAYS_S[1], gaps
    dispatch = dispatch_when_done(hooks_api, calls[0].dispatch_id)
    assert dispatch["status"] == "SUCCEEDED"
    assert [c["responseStatus"] for c in dispatch["calls"]] == [500, 503, 200]
    assert [c["errorMessage"] is not None for c in dispatch["calls"]] == [True, True, False]
    assert all(c["startedAt"] and c["finishedAt"] for c in dispatch["calls"])
    assert json.loads(dispatch["calls"][0]["responseBody"]) == {"status": 500}
    webhook = hooks_api.get(f"/webhooks/{made.json()['data']['id']}").json()["data"]
    assert webhook["lastDispatch"]["status"] == "SUCCEEDED" and webhook["stats"] == {"totalDispatches": 1}


def test_retries_run_out_and_do_not_retry_stops_at_the_first_failure(hooks_api: httpx.Client) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("broken", "fail")).json()["data"]
    with receiving([500] * 10) as receiver:
        hooks = [
            {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": f"{receiver.url}/retried"},
            {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": f"{receiver.url}/once", "doNotRetry": True},
        ]
        run = hooks_api.post(
            f"/acts/{actor['id']}/runs", params={"webhooks": b64(hooks), "waitForFinish": 30}
        ).json()["data"]
        assert run["status"] == "FAILED"
        receiver.wait_for(1 + 1 + len(DELAYS_S))
        time.sleep(1.0)
        paths = sorted(r.path for r in receiver.requests)
    assert paths == ["/once", *["/retried"] * (1 + len(DELAYS_S))]
    for r in receiver.requests:
        assert r.json()["eventType"] == "ACTOR.RUN.FAILED"
        assert r.json()["resource"]["status"] == "FAILED"
        dispatch = dispatch_when_done(hooks_api, r.dispatch_id)
        assert dispatch["status"] == "FAILED"
        assert len(dispatch["calls"]) == (1 if r.path == "/once" else 1 + len(DELAYS_S))


def _events_of(receiver: Receiver, run_id: str) -> list[str]:
    return [r.json()["eventType"] for r in receiver.requests if r.json()["eventData"]["actorRunId"] == run_id]


def _wait_events(receiver: Receiver, run_id: str, expected: list[str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while _events_of(receiver, run_id) != expected:
        got = _events_of(receiver, run_id)
        assert len(got) <= len(expected) and time.monotonic() < deadline, (got, expected)
        time.sleep(0.05)


def test_a_task_webhook_hears_every_transition_of_the_tasks_runs_and_nothing_else(
    hooks_api: httpx.Client,
) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
    task = hooks_api.post(
        "/actor-tasks", json={"actId": actor["id"], "name": "sleepy-task", "input": {"seconds": 30}}
    ).json()["data"]
    every = [
        "ACTOR.RUN.CREATED",
        "ACTOR.RUN.SUCCEEDED",
        "ACTOR.RUN.FAILED",
        "ACTOR.RUN.TIMED_OUT",
        "ACTOR.RUN.ABORTED",
        "ACTOR.RUN.RESURRECTED",
    ]
    with receiving() as receiver:
        hook = {"eventTypes": every, "condition": {"actorTaskId": "~sleepy-task"}, "requestUrl": receiver.url}
        made = hooks_api.post("/webhooks", json=hook).json()["data"]
        assert made["condition"] == {"actorTaskId": task["id"]}
        # Timed out, then resurrected (it times out again).
        timed = hooks_api.post(f"/actor-tasks/{task['id']}/runs", params={"timeout": 1}).json()["data"]
        _wait_events(receiver, timed["id"], ["ACTOR.RUN.CREATED", "ACTOR.RUN.TIMED_OUT"])
        back = hooks_api.post(f"/actor-runs/{timed['id']}/resurrect")
        assert back.status_code == 200, back.text
        expected = [
            "ACTOR.RUN.CREATED",
            "ACTOR.RUN.TIMED_OUT",
            "ACTOR.RUN.RESURRECTED",
            "ACTOR.RUN.TIMED_OUT",
        ]
        _wait_events(receiver, timed["id"], expected)
        # Aborted while it runs.
        aborted = hooks_api.post(f"/actor-tasks/{task['id']}/runs").json()["data"]
        deadline = time.monotonic() + 30
        while hooks_api.get(f"/actor-runs/{aborted['id']}").json()["data"]["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        hooks_api.post(f"/actor-runs/{aborted['id']}/abort")
        _wait_events(receiver, aborted["id"], ["ACTOR.RUN.CREATED", "ACTOR.RUN.ABORTED"])
        # A run of the same actor outside the task is not the task's: no call.
        other = hooks_api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}, json={"seconds": 0})
        assert other.json()["data"]["status"] == "SUCCEEDED"
        time.sleep(0.5)
        assert _events_of(receiver, other.json()["data"]["id"]) == []
    resurrected = next(b for b in receiver.bodies() if b["eventType"] == "ACTOR.RUN.RESURRECTED")
    assert resurrected["resource"]["status"] == "READY"
    assert resurrected["resource"]["stats"]["resurrectCount"] == 1
    assert all(b["eventData"]["actorTaskId"] == task["id"] for b in receiver.bodies())
    listed = hooks_api.get(f"/actor-tasks/{task['id']}/webhooks").json()["data"]
    assert [w["id"] for w in listed["items"]] == [made["id"]] and listed["total"] == 1
    assert listed["items"][0]["stats"]["totalDispatches"] == len(receiver.requests)


def test_build_events_carry_the_build(hooks_api: httpx.Client) -> None:
    actor = hooks_api.post("/acts", json=files_actor("built", {"main.py": "print('hi')"})).json()["data"]
    first = hooks_api.get(f"/acts/{actor['id']}/builds/default", params={"waitForFinish": 30}).json()["data"]
    assert first["status"] == "SUCCEEDED"  # the actor's own first build: before the webhook
    with receiving() as receiver:
        events = ["ACTOR.BUILD.CREATED", "ACTOR.BUILD.SUCCEEDED", "ACTOR.RUN.CREATED"]
        hook = {"eventTypes": events, "condition": {"actorId": actor["id"]}, "requestUrl": receiver.url}
        assert hooks_api.post("/webhooks", json=hook).status_code == 201
        build = hooks_api.post(
            f"/acts/{actor['id']}/builds", params={"version": "0.0", "waitForFinish": 30}
        ).json()["data"]
        assert build["status"] == "SUCCEEDED"
        calls = receiver.wait_for(2)
        time.sleep(0.3)
    assert [c.json()["eventType"] for c in calls] == ["ACTOR.BUILD.CREATED", "ACTOR.BUILD.SUCCEEDED"]
    for call in calls:
        assert call.json()["eventData"] == {"actorId": actor["id"], "actorBuildId": build["id"]}
    assert calls[1].json()["resource"]["status"] == "SUCCEEDED"
    assert calls[1].json()["resource"]["id"] == build["id"]
    assert len(receiver.requests) == 2
    listed = hooks_api.get(f"/acts/{actor['id']}/webhooks").json()["data"]
    assert listed["total"] == 1 and listed["items"][0]["eventTypes"] == events


def test_signed_templated_test_call(hooks_api: httpx.Client, hooks_account: Account) -> None:
    """POST /webhooks/:id/test sends a TEST event; the templates and the signature apply to it."""
    secret = "s3cr3t-" + uuid.uuid4().hex
    payload = '{"who": {{userId}}, "what": "{{eventType}} for {{userId}}", "data": "{{eventData}}", "n": 1}'
    headers = '{"X-Custom": "yes {{eventType}}", "X-Apify-Webhook": "forged", "Content-Type": "text/plain"}'
    with receiving() as receiver:
        hook = {
            "eventTypes": ["ACTOR.RUN.SUCCEEDED"],
            "condition": {
                "actorId": hooks_api.post("/acts", json=callable_actor("tested", "noop")).json()["data"]["id"]
            },
            "requestUrl": receiver.url,
            "payloadTemplate": payload,
            "headersTemplate": headers,
            "shouldInterpolateStrings": True,
            "signingSecret": secret,
            "description": "signed",
        }
        webhook = hooks_api.post("/webhooks", json=hook).json()["data"]
        assert webhook["hasSigningSecret"] is True and "signingSecret" not in webhook
        tested = hooks_api.post(f"/webhooks/{webhook['id']}/test")
        assert tested.status_code == 201, tested.text
        assert tested.json()["data"]["eventType"] == "TEST"
        (call,) = receiver.wait_for(1)
    assert call.json() == {
        "who": hooks_account.user_id,
        "what": f"TEST for {hooks_account.user_id}",
        "data": None,
        "n": 1,
    }
    assert call.headers["x-custom"] == "yes TEST"
    assert call.headers["x-apify-webhook"] == webhook["id"]  # a template cannot forge Apify's headers
    assert call.headers["content-type"] == "application/json"
    assert call.dispatch_id == tested.json()["data"]["id"]
    assert verify(secret, call.headers["x-greenroom-signature"], call.body)
    assert not verify("another secret", call.headers["x-greenroom-signature"], call.body)
    assert not verify(secret, call.headers["x-greenroom-signature"], call.body + b" ")
    assert dispatch_when_done(hooks_api, call.dispatch_id)["status"] == "SUCCEEDED"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_certificates_are_verified_unless_ignore_ssl_errors(
    hooks_api: httpx.Client, tmp_path: Path
) -> None:
    actor = hooks_api.post("/acts", json=callable_actor("tls-hooked", "noop")).json()["data"]
    with receiving(tls=self_signed_certificate(tmp_path)) as receiver:
        base = {
            "eventTypes": ["ACTOR.RUN.SUCCEEDED"],
            "condition": {"actorId": actor["id"]},
            "doNotRetry": True,
        }
        strict = hooks_api.post("/webhooks", json=base | {"requestUrl": f"{receiver.url}/strict"}).json()[
            "data"
        ]
        lax = hooks_api.post(
            "/webhooks", json=base | {"requestUrl": f"{receiver.url}/lax", "ignoreSslErrors": True}
        ).json()["data"]
        strict_call = dispatch_when_done(
            hooks_api, hooks_api.post(f"/webhooks/{strict['id']}/test").json()["data"]["id"]
        )
        lax_call = dispatch_when_done(
            hooks_api, hooks_api.post(f"/webhooks/{lax['id']}/test").json()["data"]["id"]
        )
        paths = [r.path for r in receiver.requests]
    assert (
        strict_call["status"] == "FAILED"
        and "CERTIFICATE_VERIFY_FAILED" in strict_call["calls"][0]["errorMessage"]
    )
    assert lax_call["status"] == "SUCCEEDED" and lax_call["calls"][0]["responseStatus"] == 200
    assert paths == ["/lax"]
