"""GET /v2/users/me/usage/monthly: the month's compute units from the runs' stats, and its counts."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from apify_client import ApifyClient

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack


def test_monthly_usage_from_the_runs(stack: Stack, account: Account, api: httpx.Client) -> None:
    actor_id = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]["id"]
    runs = [
        api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 30}, json={"i": i}).json()["data"]
        for i in range(2)
    ]
    assert all(r["status"] == "SUCCEEDED" for r in runs)
    units = sum(api.get(f"/actor-runs/{r['id']}").json()["data"]["stats"]["computeUnits"] for r in runs)
    assert units > 0
    api.post("/datasets", params={"name": "usage-ds"})

    usage = ApifyClient(token=account.token, api_url=stack.url, max_retries=0).user().monthly_usage()
    today = datetime.now(UTC)
    assert usage.usage_cycle.start_at == datetime(today.year, today.month, 1, tzinfo=UTC)
    assert usage.usage_cycle.end_at.month == today.month and usage.usage_cycle.end_at.hour == 23
    month = usage.monthly_service_usage["ACTOR_COMPUTE_UNITS"]
    assert abs(month.quantity - units) < 1e-5 and month.base_amount_usd == 0
    daily = {d.date.day: d.service_usage["ACTOR_COMPUTE_UNITS"].quantity for d in usage.daily_service_usages}
    assert sorted(daily) == list(range(1, today.day + 1)) and abs(daily[today.day] - units) < 1e-5
    assert abs(sum(daily.values()) - month.quantity) < 1e-5

    raw = api.get("/users/me/usage/monthly").json()["data"]
    # The actor was built once; each run made its three default storages; one dataset was made by hand.
    assert raw["counts"] == {"runs": 2, "builds": 1, "datasets": 3, "keyValueStores": 2, "requestQueues": 2}

    past = api.get("/users/me/usage/monthly", params={"date": "2020-02-14"}).json()["data"]
    assert past["usageCycle"] == {"startAt": "2020-02-01T00:00:00.000Z", "endAt": "2020-02-29T23:59:59.999Z"}
    assert past["monthlyServiceUsage"]["ACTOR_COMPUTE_UNITS"]["quantity"] == 0
    assert len(past["dailyServiceUsages"]) == 29 and past["counts"]["runs"] == 0
    for bad in ("2020-13-01", "yesterday", "2020-2-1", "2020-02-30"):
        r = api.get("/users/me/usage/monthly", params={"date": bad})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid-input", (bad, r.text)
