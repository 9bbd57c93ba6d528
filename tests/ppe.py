"""Pay-per-event test helpers: a pricing, a priced actor, a run of it, a charge and its counts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.actors import callable_actor


def ppe(events: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A PAY_PER_EVENT pricing info (events: name -> price, or -> the whole event object)."""
    events = events if events is not None else {"page": 0.01, "apify-actor-start": 0.005}
    charge_events = {
        name: value
        if isinstance(value, dict)
        else {"eventTitle": name, "eventDescription": name, "eventPriceUsd": value}
        for name, value in events.items()
    }
    return {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": charge_events}, **extra}


def make_actor(
    api: httpx.Client, name: str, pricing: list[dict[str, Any]] | None, target: str = "sleep"
) -> str:
    body = callable_actor(name, target)
    if pricing is not None:
        body["pricingInfos"] = pricing
    response = api.post("/acts", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def start(api: httpx.Client, actor_id: str, seconds: float = 30, **params: Any) -> dict[str, Any]:
    response = api.post(f"/acts/{actor_id}/runs", json={"seconds": seconds}, params=params)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def charge(
    api: httpx.Client, run_id: str, event: Any, count: Any = 1, key: str | None = None
) -> httpx.Response:
    headers = {"idempotency-key": key} if key is not None else {}
    return api.post(
        f"/actor-runs/{run_id}/charge", json={"eventName": event, "count": count}, headers=headers
    )


def counts(api: httpx.Client, run_id: str) -> dict[str, int]:
    return dict(api.get(f"/actor-runs/{run_id}").json()["data"]["chargedEventCounts"])


def error_type(response: httpx.Response) -> str:
    return str(response.json()["error"]["type"])


def built(api: httpx.Client, actor_id: str) -> str:
    """The actor once its first build has ended (rows compared before and after stay still)."""
    for _ in range(10):
        build = api.get(f"/acts/{actor_id}/builds/default", params={"waitForFinish": 30}, timeout=60)
        if build.json()["data"]["finishedAt"] is not None:
            return actor_id
    raise AssertionError(f"the build of {actor_id} did not end")
