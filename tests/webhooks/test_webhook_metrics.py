"""Webhook calls counted by result in GET /metrics, by the webhook workers of the module's Greenroom."""

from __future__ import annotations

import time

import httpx

from tests.actors import callable_actor
from tests.scrape import scrape, value
from tests.stack import Stack
from tests.webhooks.webhooks_support import dispatch_when_done, receiving


def test_webhook_calls_are_counted_by_result(hooks_stack: Stack, hooks_api: httpx.Client) -> None:
    before = scrape(hooks_stack.url)
    actor = hooks_api.post("/acts", json=callable_actor("hooked-metrics", "noop")).json()["data"]
    with receiving([500]) as receiver:  # the first call fails, the retry succeeds
        hook = {
            "eventTypes": ["ACTOR.RUN.SUCCEEDED"],
            "condition": {"actorId": actor["id"]},
            "requestUrl": f"{receiver.url}/counted",
        }
        assert hooks_api.post("/webhooks", json=hook).status_code == 201
        run = hooks_api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
        assert run["status"] == "SUCCEEDED"
        calls = receiver.wait_for(2)
        assert dispatch_when_done(hooks_api, calls[0].dispatch_id)["status"] == "SUCCEEDED"
    deadline = time.monotonic() + 10
    while True:  # counted as each call is made: the loop only spares a slow scrape
        after = scrape(hooks_stack.url)
        moved = {
            result: value(after, "greenroom_webhook_calls_total", result=result)
            - value(before, "greenroom_webhook_calls_total", result=result)
            for result in ("failed", "succeeded")
        }
        if moved == {"failed": 1, "succeeded": 1} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert moved == {"failed": 1, "succeeded": 1}
