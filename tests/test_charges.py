"""Pay-per-event through HTTP and Apify's Python client: actors' pricingInfos, the pricing a run
starts with, and POST /v2/actor-runs/:runId/charge (idempotency, what is refused, run tokens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from apify_client import ApifyClient
from apify_client._models import PayPerEventActorPricingInfo

from server.storage.db import SyncDatabase
from server.storage.ids import iso
from tests.actors import callable_actor, files_actor
from tests.conftest import Account
from tests.rows import snapshot
from tests.stack import Stack


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
    actor_id = make_actor(api, "unpriced", None)
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


def test_charges_count_once_per_idempotency_key(api: httpx.Client) -> None:
    run_id = start(api, make_actor(api, "charged", [ppe()]))["id"]
    first = charge(api, run_id, "page", 3, key="k-1")
    assert first.status_code == 201 and first.json() == {}
    again = charge(api, run_id, "page", 3, key="k-1")
    assert again.status_code == 201 and again.json() == {}
    # The key alone decides: a repeat naming another count is still the first charge.
    assert charge(api, run_id, "page", 7, key="k-1").status_code == 201
    assert counts(api, run_id) == {"apify-actor-start": 1, "page": 3}
    assert charge(api, run_id, "page", 2, key="k-2").status_code == 201
    assert charge(api, run_id, "page").status_code == 201
    assert charge(api, run_id, "page").status_code == 201  # no key: every call counts
    assert counts(api, run_id) == {"apify-actor-start": 1, "page": 7}
    api.post(f"/actor-runs/{run_id}/abort")


def test_the_api_does_not_enforce_max_total_charge_usd(api: httpx.Client) -> None:
    """Apify: "the API does not check this"; the SDKs keep within the limit themselves."""
    run = start(api, make_actor(api, "limited", [ppe({"page": 1.0})]), maxTotalChargeUsd=2)
    assert run["options"]["maxTotalChargeUsd"] == 2
    assert charge(api, run["id"], "page", 5).status_code == 201
    assert counts(api, run["id"]) == {"page": 5}
    api.post(f"/actor-runs/{run['id']}/abort")


def test_one_time_events_count_once_per_run(api: httpx.Client) -> None:
    once = {"eventTitle": "Setup", "eventDescription": "once", "eventPriceUsd": 1, "isOneTimeEvent": True}
    run_id = start(api, make_actor(api, "one-time", [ppe({"setup": once})]))["id"]
    assert charge(api, run_id, "setup").status_code == 201
    assert charge(api, run_id, "setup").status_code == 201
    assert counts(api, run_id) == {"setup": 1}
    api.post(f"/actor-runs/{run_id}/abort")


def test_refused_charges_write_nothing(api: httpx.Client, db: SyncDatabase, account: Account) -> None:
    run_id = start(api, make_actor(api, "refusing", [ppe()]))["id"]
    free_run = start(api, make_actor(api, "free", [{"pricingModel": "FREE"}]))["id"]
    plain_run = start(api, make_actor(api, "plain", None))["id"]
    before = snapshot(db, account.user_id)
    refused = [
        (charge(api, run_id, "unknown"), 400, "invalid-input"),
        (charge(api, run_id, "apify-actor-start"), 400, "cannot-charge-apify-event"),
        (charge(api, run_id, "apify-default-dataset-item"), 400, "cannot-charge-apify-event"),
        (charge(api, free_run, "page"), 400, "cannot-charge-non-pay-per-event-actor"),
        (charge(api, plain_run, "page"), 400, "cannot-charge-non-pay-per-event-actor"),
        (charge(api, run_id, "page", 0), 400, "invalid-input"),
        (charge(api, run_id, "page", "2"), 400, "invalid-input"),
        (charge(api, run_id, "page", True), 400, "invalid-input"),
        (charge(api, run_id, "", 1), 400, "invalid-input"),
        (charge(api, run_id, None, 1), 400, "invalid-input"),
        (charge(api, run_id, "page", key=""), 400, "invalid-idempotency-key"),
        (charge(api, run_id, "page", key="k" * 257), 400, "invalid-idempotency-key"),
        (api.post(f"/actor-runs/{run_id}/charge", json=[1]), 400, "invalid-request"),
        (charge(api, "nosuchrun00000000", "page"), 404, "record-not-found"),
    ]
    for response, status, kind in refused:
        assert (response.status_code, error_type(response)) == (status, kind), response.text
    assert snapshot(db, account.user_id) == before
    for run in (run_id, free_run, plain_run):
        api.post(f"/actor-runs/{run}/abort")


def test_a_finished_run_is_not_charged_but_a_retry_is_answered(api: httpx.Client) -> None:
    run_id = start(api, make_actor(api, "finishing", [ppe()]), seconds=2)["id"]
    assert charge(api, run_id, "page", key="before-end").status_code == 201
    run = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    late = charge(api, run_id, "page", key="after-end")
    assert (late.status_code, error_type(late)) == (400, "invalid-request")
    assert "finished" in late.json()["error"]["message"]
    # The retry of a charge made while the run went is answered as it was the first time.
    assert charge(api, run_id, "page", key="before-end").status_code == 201
    assert counts(api, run_id) == {"apify-actor-start": 1, "page": 1}


def test_another_users_token_cannot_charge(stack: Stack, api: httpx.Client, db: SyncDatabase) -> None:
    from server.users import create_user

    run_id = start(api, make_actor(api, "mine", [ppe()]))["id"]
    _, other_token = create_user(db, "charge-intruder-" + run_id.lower()[:8])
    with stack.client(other_token) as other:
        response = charge(other, run_id, "page")
    assert (response.status_code, error_type(response)) == (404, "record-not-found")
    assert counts(api, run_id) == {"apify-actor-start": 1}
    api.post(f"/actor-runs/{run_id}/abort")


# A process actor that charges with the token its run was given: its own run, then another run.
CHARGING_MAIN = """\
import json, os, urllib.request, urllib.error
base, token = os.environ["APIFY_API_BASE_URL"], os.environ["APIFY_TOKEN"]
store = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def call(url, body, method="POST"):
    request = urllib.request.Request(url, json.dumps(body).encode(), h, method=method)
    try:
        with urllib.request.urlopen(request) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
records = f"{base}/v2/key-value-stores/{store}/records"
with urllib.request.urlopen(urllib.request.Request(f"{records}/INPUT", headers=h)) as r:
    other = json.load(r)["other"]
runs = f"{base}/v2/actor-runs"
statuses = {
    "own": call(f"{runs}/{os.environ['ACTOR_RUN_ID']}/charge", {"eventName": "page", "count": 2}),
    "other": call(f"{runs}/{other}/charge", {"eventName": "page", "count": 1}),
    "pricing": json.loads(os.environ["APIFY_ACTOR_PRICING_INFO"])["pricingModel"],
    "counts": json.loads(os.environ["APIFY_CHARGED_ACTOR_EVENT_COUNTS"]),
    "limit": os.environ["ACTOR_MAX_TOTAL_CHARGE_USD"],
}
call(f"{records}/OUTPUT", statuses, "PUT")
"""


def test_a_runs_token_charges_its_own_run_only(api: httpx.Client) -> None:
    other = start(api, make_actor(api, "other", [ppe()]))["id"]
    created = api.post(
        "/acts", json={**files_actor("self-charging", {"main.py": CHARGING_MAIN}), "pricingInfos": [ppe()]}
    )
    assert created.status_code == 201, created.text
    response = api.post(
        f"/acts/{created.json()['data']['id']}/runs",
        json={"other": other},
        params={"waitForFinish": 60, "maxTotalChargeUsd": 1.5},
    )
    run = response.json()["data"]
    assert run["status"] == "SUCCEEDED", api.get(f"/actor-runs/{run['id']}/log").text
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output == {
        "own": 201,
        "other": 403,
        "pricing": "PAY_PER_EVENT",
        "counts": {"apify-actor-start": 1},
        "limit": "1.5",
    }
    assert run["chargedEventCounts"] == {"apify-actor-start": 1, "page": 2}
    assert counts(api, other) == {"apify-actor-start": 1}
    api.post(f"/actor-runs/{other}/abort")


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
    actor_id = make_actor(api, "minimum", [ppe(minimalMaxTotalChargeUsd=0.5)])
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
    assert (
        api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 30}).json()["data"]["status"] == "SUCCEEDED"
    )
    again = api.post(f"/actor-runs/{run_id}/resurrect", params={"maxTotalChargeUsd": 4})
    assert again.status_code == 200, again.text
    assert again.json()["data"]["options"]["maxTotalChargeUsd"] == 4
    assert again.json()["data"]["chargedEventCounts"] == {"apify-actor-start": 2}


def test_the_python_client_charges_and_reads_the_pricing(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    run_id = start(api, make_actor(api, "client-charged", [ppe()]))["id"]
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    client.run(run_id).charge("page", count=3, idempotency_key="client-1")
    client.run(run_id).charge("page", count=3, idempotency_key="client-1")  # a retry
    client.run(run_id).charge("page")  # the client makes a key of its own
    run = client.run(run_id).get()
    assert run is not None
    assert isinstance(run.pricing_info, PayPerEventActorPricingInfo)
    assert run.charged_event_counts == {"apify-actor-start": 1, "page": 4}
    actor = client.actor(run.act_id).get()
    assert actor is not None and actor.pricing_infos is not None
    assert isinstance(actor.pricing_infos[0], PayPerEventActorPricingInfo)
    client.run(run_id).abort()


def test_items_pushed_to_the_default_dataset_are_charged_by_the_platform(api: httpx.Client) -> None:
    """apify-default-dataset-item: counted per item the run's default dataset receives, when priced."""
    run = start(api, make_actor(api, "itemized", [ppe({"apify-default-dataset-item": 0.001, "page": 0.01})]))
    pushed = api.post(f"/datasets/{run['defaultDatasetId']}/items", json=[{"n": 1}, {"n": 2}, {"n": 3}])
    assert pushed.status_code == 201, pushed.text
    assert api.post(f"/actor-runs/{run['id']}/dataset/items", json={"n": 4}).status_code == 201
    named = api.post("/datasets", params={"name": "not-the-default"}).json()["data"]["id"]
    assert api.post(f"/datasets/{named}/items", json=[{"n": 5}]).status_code == 201
    assert counts(api, run["id"]) == {"apify-default-dataset-item": 4}
    api.post(f"/actor-runs/{run['id']}/abort")
    plain = start(api, make_actor(api, "unitemized", [ppe({"page": 0.01})]))
    assert api.post(f"/datasets/{plain['defaultDatasetId']}/items", json=[{"n": 1}]).status_code == 201
    assert counts(api, plain["id"]) == {}
    api.post(f"/actor-runs/{plain['id']}/abort")


# First attempt: charges 2 pages, then fails. Started again (restartOnError), it finds them in its
# environment and succeeds.
RESTARTED_MAIN = """\
import json, os, sys, urllib.request
base, run = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_RUN_ID"]
h = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"}
counts = json.loads(os.environ["APIFY_CHARGED_ACTOR_EVENT_COUNTS"])
def send(url, body, method):
    urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), h, method=method)).close()
if "page" not in counts:
    send(f"{base}/v2/actor-runs/{run}/charge", {"eventName": "page", "count": 2}, "POST")
    sys.exit(1)
store = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
send(f"{base}/v2/key-value-stores/{store}/records/OUTPUT", counts, "PUT")
"""


def test_a_restarted_actor_is_told_what_its_run_has_charged(api: httpx.Client) -> None:
    body = {**files_actor("restarted", {"main.py": RESTARTED_MAIN}), "pricingInfos": [ppe()]}
    created = api.post("/acts", json=body)
    assert created.status_code == 201, created.text
    response = api.post(
        f"/acts/{created.json()['data']['id']}/runs", params={"waitForFinish": 60, "restartOnError": "true"}
    )
    run = response.json()["data"]
    assert run["status"] == "SUCCEEDED", api.get(f"/actor-runs/{run['id']}/log").text
    assert run["stats"]["restartCount"] == 1
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output == {"apify-actor-start": 1, "page": 2} == run["chargedEventCounts"]
