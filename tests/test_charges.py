"""POST /v2/actor-runs/:runId/charge through HTTP and Apify's Python client: idempotency, what is
refused, run tokens, the platform's own events, and what a (re)started actor is told."""

from __future__ import annotations

import httpx
from apify_client import ApifyClient
from apify_client._models import PayPerEventActorPricingInfo

from server.storage.db import SyncDatabase
from tests.actors import files_actor
from tests.conftest import Account
from tests.ppe import charge, counts, error_type, make_actor, ppe, start
from tests.rows import snapshot
from tests.sdk_support import run_when_done
from tests.stack import Stack


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
    # The runs' rows change as they go (status, lease, stats): what a charge writes is compared.
    runs = (run_id, free_run, plain_run)
    before = (snapshot(db, account.user_id)["run_charges"], [counts(api, r) for r in (run_id,)])
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
    assert (snapshot(db, account.user_id)["run_charges"], [counts(api, r) for r in (run_id,)]) == before
    for run in runs:
        api.post(f"/actor-runs/{run}/abort")


def test_a_finished_run_is_not_charged_but_a_retry_is_answered(api: httpx.Client) -> None:
    run_id = start(api, make_actor(api, "finishing", [ppe()]), seconds=2)["id"]
    assert charge(api, run_id, "page", key="before-end").status_code == 201
    assert run_when_done(api, run_id, timeout_s=120)["status"] == "SUCCEEDED"
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
    run = run_when_done(api, response.json()["data"]["id"], timeout_s=180)
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
    run = run_when_done(api, response.json()["data"]["id"], timeout_s=180)
    assert run["status"] == "SUCCEEDED", api.get(f"/actor-runs/{run['id']}/log").text
    assert run["stats"]["restartCount"] == 1
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output == {"apify-actor-start": 1, "page": 2} == run["chargedEventCounts"]
