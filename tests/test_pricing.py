"""Pay-per-event pricing: actors' pricingInfos (checked, with what the platform sets), the pricing a
run starts with (and the start event the platform charges), and maxTotalChargeUsd at run start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.storage.db import SyncDatabase
from server.storage.ids import iso
from tests.actors import callable_actor
from tests.conftest import Account
from tests.ppe import built, error_type, make_actor, ppe, start
from tests.rows import snapshot
from tests.sdk_support import run_when_done


def test_actor_pricing_infos_are_kept_with_what_the_platform_sets(api: httpx.Client) -> None:
    actor_id = make_actor(api, "priced", [ppe(minimalMaxTotalChargeUsd=0.5)])
    shown = api.get(f"/acts/{actor_id}").json()["data"]["pricingInfos"]
    assert len(shown) == 1
    entry = shown[0]
    assert entry["pricingModel"] == "PAY_PER_EVENT" and entry["minimalMaxTotalChargeUsd"] == 0.5
    assert entry["apifyMarginPercentage"] == 0 and entry["startedAt"] == entry["createdAt"]
    assert entry["pricingPerEvent"]["actorChargeEvents"]["page"]["eventPriceUsd"] == 0.01
    free = {"pricingModel": "FREE", "startedAt": "2026-01-01T00:00:00Z", "apifyMarginPercentage": 0.2}
    updated = api.put(f"/acts/{actor_id}", json={"pricingInfos": [free, entry]})
    assert updated.status_code == 200, updated.text
    infos = updated.json()["data"]["pricingInfos"]
    assert infos[0]["startedAt"] == "2026-01-01T00:00:00.000Z" and infos[0]["apifyMarginPercentage"] == 0.2
    assert infos[1] == entry
    assert api.put(f"/acts/{actor_id}", json={"title": "x"}).json()["data"]["pricingInfos"] == infos


@pytest.mark.parametrize(
    ("pricing", "field", "kind"),
    [
        ("free", "pricingInfos", "invalid-input"),
        (["x"], "pricingInfos[0]", "invalid-input"),
        ([{"pricingModel": "CHEAP"}], "pricingInfos[0].pricingModel", "invalid-input"),
        ([{"pricingModel": "PAY_PER_EVENT"}], "pricingInfos[0].pricingPerEvent", "invalid-input"),
        (
            [ppe({"page": {"eventTitle": "p", "eventDescription": "p"}})],
            "actorChargeEvents.page",
            "invalid-input",
        ),
        ([ppe({"page": {"eventTitle": 1, "eventDescription": "p"}})], "page.eventTitle", "invalid-input"),
        ([ppe({"page": -1})], "page.eventPriceUsd", "invalid-input"),
        ([ppe({"page": 0.1}, minimalMaxTotalChargeUsd="1")], "minimalMaxTotalChargeUsd", "invalid-input"),
        ([{"pricingModel": "FREE", "startedAt": "yesterday"}], "pricingInfos[0].startedAt", "invalid-input"),
        ([{"pricingModel": "FREE", "apifyMarginPercentage": 2}], "apifyMarginPercentage", "invalid-input"),
        # Out of range once in UTC, and an integer too large for a float: 400s, not 500s.
        ([{"pricingModel": "FREE", "startedAt": "0001-01-01T00:00:00+01:00"}], "startedAt", "invalid-input"),
        ([ppe({"page": 10**400})], "page.eventPriceUsd", "invalid-input"),
        ([{"pricingModel": "PRICE_PER_DATASET_ITEM", "pricePerUnitUsd": 1}], "unitName", "invalid-input"),
        ([{"pricingModel": "FLAT_PRICE_PER_MONTH", "pricePerUnitUsd": 5}], "trialMinutes", "invalid-input"),
        ([ppe({"apify-mine": 0.1})], "apify-mine", "cannot-add-apify-events-to-ppe-actor"),
        (
            [
                ppe(
                    {
                        "apify-actor-start": {
                            "eventTitle": "s",
                            "eventDescription": "s",
                            "eventPriceUsd": 1,
                            "isOneTimeEvent": False,
                        }
                    }
                )
            ],
            "isOneTimeEvent",
            "cannot-disable-one-time-event-for-apify-start-event",
        ),
    ],
)
def test_bad_pricing_infos_are_400_naming_the_field_and_write_nothing(
    api: httpx.Client, db: SyncDatabase, account: Account, pricing: Any, field: str, kind: str
) -> None:
    actor_id = built(api, make_actor(api, "unpriced", None))
    before = snapshot(db, account.user_id)
    for response in (
        api.post("/acts", json={**callable_actor("bad-pricing", "sleep"), "pricingInfos": pricing}),
        api.put(f"/acts/{actor_id}", json={"title": "changed", "pricingInfos": pricing}),
    ):
        assert response.status_code == 400, response.text
        assert error_type(response) == kind
        assert field in response.json()["error"]["message"]
    assert snapshot(db, account.user_id) == before


def test_a_run_takes_the_pricing_in_force_and_the_platform_charges_its_start(api: httpx.Client) -> None:
    now = datetime.now(UTC)
    old = {"pricingModel": "FREE", "startedAt": iso(now - timedelta(days=30))}
    current = ppe(startedAt=iso(now - timedelta(days=1)))
    future = {"pricingModel": "FREE", "startedAt": iso(now + timedelta(days=14))}
    actor_id = make_actor(api, "in-force", [old, current, future])
    run = start(api, actor_id, memory=2048)
    assert run["pricingInfo"]["pricingModel"] == "PAY_PER_EVENT"
    assert run["pricingInfo"]["startedAt"] == current["startedAt"]
    # One apify-actor-start per GB of memory.
    assert run["chargedEventCounts"] == {"apify-actor-start": 2}
    api.post(f"/actor-runs/{run['id']}/abort")
    only_future = make_actor(api, "not-yet", [future])
    later = start(api, only_future, seconds=0)
    assert "pricingInfo" not in later and "chargedEventCounts" not in later


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"maxTotalChargeUsd": 0}, "max-total-charge-usd-must-be-greater-than-zero"),
        ({"maxTotalChargeUsd": 0.4}, "max-total-charge-usd-below-minimum"),
    ],
)
def test_pay_per_event_run_limits_are_checked_at_start(
    api: httpx.Client, db: SyncDatabase, account: Account, params: dict[str, Any], kind: str
) -> None:
    actor_id = built(api, make_actor(api, "minimum", [ppe(minimalMaxTotalChargeUsd=0.5)]))
    task = api.post("/actor-tasks", json={"actId": actor_id, "name": "minimum-task", "input": {"seconds": 0}})
    assert task.status_code == 201, task.text
    before = snapshot(db, account.user_id)
    for path in (f"/acts/{actor_id}/runs", f"/acts/{actor_id}/run-sync", "/actor-tasks/~minimum-task/runs"):
        response = api.post(path, json={"seconds": 0}, params=params)
        assert (response.status_code, error_type(response)) == (400, kind), response.text
    assert snapshot(db, account.user_id) == before
    # Not pay-per-event: no such limits.
    assert (
        start(api, make_actor(api, "unlimited", None), seconds=0, maxTotalChargeUsd=0)["options"][
            "maxTotalChargeUsd"
        ]
        == 0
    )


def test_a_tasks_max_total_charge_usd_and_run_sync(api: httpx.Client) -> None:
    actor_id = make_actor(api, "tasked", [ppe()], target="echo")
    options = {"maxTotalChargeUsd": 3}
    task = api.post("/actor-tasks", json={"actId": actor_id, "name": "ppe-task", "options": options})
    assert task.status_code == 201, task.text
    assert api.post("/actor-tasks/~ppe-task/run-sync", json={"a": 1}).status_code == 201
    run = api.get("/actor-tasks/~ppe-task/runs/last").json()["data"]
    assert run["options"]["maxTotalChargeUsd"] == 3
    assert run["chargedEventCounts"] == {"apify-actor-start": 1}
    bad = api.post(
        "/actor-tasks", json={"actId": actor_id, "name": "bad-task", "options": {"maxTotalChargeUsd": "3"}}
    )
    assert (bad.status_code, error_type(bad)) == (400, "invalid-input")


def test_resurrecting_charges_the_start_again(api: httpx.Client) -> None:
    run_id = start(api, make_actor(api, "resurrected", [ppe()]), seconds=0)["id"]
    assert run_when_done(api, run_id, timeout_s=120)["status"] == "SUCCEEDED"
    again = api.post(f"/actor-runs/{run_id}/resurrect", params={"maxTotalChargeUsd": 4})
    assert again.status_code == 200, again.text
    assert again.json()["data"]["options"]["maxTotalChargeUsd"] == 4
    assert again.json()["data"]["chargedEventCounts"] == {"apify-actor-start": 2}
