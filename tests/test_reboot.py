"""Reboot and metamorph of a running run, on a real worker with real (sandboxed) actor processes: over
HTTP, with the official Python client, and from inside the actor."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
from apify_client import ApifyClient
from apify_client.errors import ApifyApiError
from sqlalchemy import update

from server.events import publish_reboot
from server.settings import Settings
from server.storage.db import SyncDatabase
from server.storage.runs import RUNS
from tests.actors import STDLIB_MAIN, callable_actor, files_actor
from tests.conftest import Account
from tests.reboot_actors import COUNTER_MAIN, MORPH_MAIN
from tests.stack import Stack


def _actor(api: httpx.Client, name: str, main: str) -> dict[str, Any]:
    response = api.post("/acts", json=files_actor(name, {"main.py": main}))
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def _record(api: httpx.Client, run: dict[str, Any], key: str) -> Any:
    response = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/{key}")
    return response.json() if response.status_code == 200 else None


def _wait_starts(api: httpx.Client, run: dict[str, Any], count: int, timeout_s: float = 60) -> list[Any]:
    """The STARTS record once it counts `count` starts (the log is the failure message)."""
    deadline = time.monotonic() + timeout_s
    while True:
        starts = _record(api, run, "STARTS") or []
        if len(starts) >= count:
            return list(starts)
        assert time.monotonic() < deadline, api.get(f"/actor-runs/{run['id']}/log").text
        time.sleep(0.1)


def _finished(api: httpx.Client, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run = api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 20}).json()["data"]
        if run["finishedAt"] is not None or time.monotonic() > deadline:
            return dict(run)


def _instant(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _log(api: httpx.Client, run_id: str) -> str:
    return api.get(f"/actor-runs/{run_id}/log").text


def test_reboot_over_http_starts_the_actor_again_in_the_same_run(api: httpx.Client) -> None:
    actor = _actor(api, "counter", COUNTER_MAIN)
    run = api.post(f"/acts/{actor['id']}/runs", json={"reboots": 1}, params={"timeout": 120}).json()["data"]
    first = _wait_starts(api, run, 1)
    rebooted = api.post(f"/actor-runs/{run['id']}/reboot")
    assert rebooted.status_code == 200, rebooted.text
    data = rebooted.json()["data"]
    assert data["id"] == run["id"] and data["status"] == "RUNNING"
    assert data["stats"]["rebootCount"] == 1
    done = _finished(api, run["id"])
    log = _log(api, run["id"])
    assert done["status"] == "SUCCEEDED", log
    assert done["stats"]["rebootCount"] == 1 and done["stats"]["restartCount"] == 0
    starts = _record(api, done, "STARTS")
    assert len(starts) == 2 and starts[0]["pid"] == first[0]["pid"]
    # Same run, same storages, same input, same environment; the timeout keeps its deadline.
    before, after = (dict(start["env"]) for start in starts)
    assert abs(_instant(before.pop("ACTOR_TIMEOUT_AT")) - _instant(after.pop("ACTOR_TIMEOUT_AT"))) < 1
    assert before == after
    assert starts[1]["env"]["ACTOR_RUN_ID"] == run["id"]
    assert starts[1]["env"]["ACTOR_DEFAULT_DATASET_ID"] == run["defaultDatasetId"]
    assert _record(api, done, "OUTPUT") == {"starts": 2}
    assert _record(api, done, "NOT_REBOOTED") is None  # the first start was stopped while it slept
    for same in ("defaultKeyValueStoreId", "defaultDatasetId", "startedAt"):
        assert done[same] == run[same]
    # One log, going on across the reboot.
    assert log.index("start 1") < log.index("rebooted") < log.index("start 2"), log


def test_the_python_client_reboots_a_run_and_its_last_run(stack: Stack, account: Account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    with stack.client(account.token) as api:
        actor = _actor(api, "client-counter", COUNTER_MAIN)
        run = client.actor(actor["id"]).start(run_input={"reboots": 2})
        _wait_starts(api, run.model_dump(by_alias=True), 1)
        assert client.run(run.id).reboot().status == "RUNNING"
        _wait_starts(api, run.model_dump(by_alias=True), 2)
        rebooted = client.actor(actor["id"]).last_run().reboot()
        assert rebooted.id == run.id and rebooted.stats.reboot_count == 2
        done = client.run(run.id).wait_for_finish(wait_duration=None)
        assert done is not None and done.status == "SUCCEEDED", _log(api, run.id)
        assert _record(api, done.model_dump(by_alias=True), "OUTPUT") == {"starts": 3}
        # A finished run is not rebooted, and nothing changes.
        with pytest.raises(ApifyApiError) as refused:
            client.run(run.id).reboot()
        assert refused.value.status_code == 400
        assert client.run(run.id).get().stats.reboot_count == 2  # type: ignore[union-attr]


def test_an_actor_reboots_itself_even_if_it_exits_right_after_asking(api: httpx.Client) -> None:
    """Actor.reboot() sleeps after asking; an actor that ends at once is started again all the same."""
    actor = _actor(api, "self-counter", COUNTER_MAIN)
    for run_input in ({"reboots": 1, "self": True}, {"reboots": 2, "self": True, "exit": True}):
        run = api.post(f"/acts/{actor['id']}/runs", json=run_input).json()["data"]
        done = _finished(api, run["id"])
        assert done["status"] == "SUCCEEDED", _log(api, run["id"])
        starts = run_input["reboots"] + 1
        assert _record(api, done, "OUTPUT") == {"starts": starts}
        assert done["stats"]["rebootCount"] == starts - 1


def test_reboot_of_a_run_that_is_not_running_is_refused(api: httpx.Client) -> None:
    echo = api.post("/acts", json=callable_actor("reboot-echo", "echo")).json()["data"]
    run = api.post(f"/acts/{echo['id']}/runs", params={"waitForFinish": 30}, json={}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    for path in (f"/actor-runs/{run['id']}/reboot", f"/acts/{echo['id']}/runs/last/reboot"):
        refused = api.post(path)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["type"] == "invalid-request"
    again = api.get(f"/actor-runs/{run['id']}").json()["data"]
    assert again["status"] == "SUCCEEDED" and again["stats"]["rebootCount"] == 0
    assert api.post("/actor-runs/nosuchrun12345678/reboot").status_code == 404


def test_a_reboot_message_without_sql_reboots_nothing(api: httpx.Client, settings: Settings) -> None:
    """Anyone who can PUBLISH on Redis can send the message: only a reboot committed in SQL counts."""
    actor = _actor(api, "forged-counter", COUNTER_MAIN)
    run = api.post(f"/acts/{actor['id']}/runs", json={"reboots": 1, "seconds": 3}).json()["data"]
    _wait_starts(api, run, 1)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        publish_reboot(client, settings.redis_prefix, run["id"])
    finally:
        client.close()
    done = _finished(api, run["id"])
    assert done["status"] == "SUCCEEDED", _log(api, run["id"])
    assert len(_record(api, done, "STARTS")) == 1 and done["stats"]["rebootCount"] == 0
    assert _record(api, done, "NOT_REBOOTED") == {"start": 1}


def test_a_reboot_whose_message_was_lost_is_read_from_sql(
    api: httpx.Client, db: SyncDatabase, settings: Settings
) -> None:
    """A reboot committed while its message went nowhere is heard with the next message of the run."""
    actor = _actor(api, "lost-counter", COUNTER_MAIN)
    run = api.post(f"/acts/{actor['id']}/runs", json={"reboots": 1}).json()["data"]
    _wait_starts(api, run, 1)
    with db.begin() as connection:  # as the API commits it, without publishing
        connection.execute(update(RUNS).where(RUNS.c.id == run["id"]).values(reboot_count=1))
    time.sleep(1)
    assert len(_record(api, run, "STARTS")) == 1
    client = redis.Redis.from_url(settings.redis_url)
    try:
        publish_reboot(client, settings.redis_prefix, run["id"])  # any later wake-up reads SQL
    finally:
        client.close()
    done = _finished(api, run["id"])
    assert done["status"] == "SUCCEEDED", _log(api, run["id"])
    assert _record(api, done, "OUTPUT") == {"starts": 2}


def test_abort_after_a_reboot_ends_the_run_aborted(api: httpx.Client) -> None:
    actor = _actor(api, "abort-counter", COUNTER_MAIN)
    run = api.post(f"/acts/{actor['id']}/runs", json={"reboots": 5}).json()["data"]
    _wait_starts(api, run, 1)
    assert api.post(f"/actor-runs/{run['id']}/reboot").status_code == 200
    _wait_starts(api, run, 2)
    asked = time.monotonic()
    assert api.post(f"/actor-runs/{run['id']}/abort").status_code == 200
    done = _finished(api, run["id"])
    assert done["status"] == "ABORTED", _log(api, run["id"])
    assert time.monotonic() - asked < 10
    assert len(_record(api, done, "STARTS")) == 2


def test_abort_right_after_a_reboot_is_not_lost(api: httpx.Client) -> None:
    """An abort that comes while the actor is stopped for its reboot ends the run ABORTED."""
    actor = _actor(api, "abort-quick", COUNTER_MAIN)
    run = api.post(f"/acts/{actor['id']}/runs", json={"reboots": 5}).json()["data"]
    _wait_starts(api, run, 1)
    assert api.post(f"/actor-runs/{run['id']}/reboot").status_code == 200
    assert api.post(f"/actor-runs/{run['id']}/abort").status_code == 200
    done = _finished(api, run["id"])
    assert done["status"] == "ABORTED", _log(api, run["id"])


def test_the_timeout_counts_from_the_runs_start_across_reboots(api: httpx.Client) -> None:
    actor = _actor(api, "timeout-counter", COUNTER_MAIN)
    run = api.post(f"/acts/{actor['id']}/runs", json={"reboots": 5}, params={"timeout": 6}).json()["data"]
    _wait_starts(api, run, 1)
    time.sleep(2)
    assert api.post(f"/actor-runs/{run['id']}/reboot").status_code == 200
    starts = _wait_starts(api, run, 2)
    timeouts = [_instant(start["env"]["ACTOR_TIMEOUT_AT"]) for start in starts]
    assert abs(timeouts[0] - timeouts[1]) < 1
    done = _finished(api, run["id"])
    assert done["status"] == "TIMED-OUT", _log(api, run["id"])
    assert done["stats"]["runTimeSecs"] < 10


def _metamorph_pair(api: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    source = _actor(api, "morph-source", MORPH_MAIN)
    target = _actor(api, "morph-target", STDLIB_MAIN)
    return source, target


def test_an_actor_metamorphs_its_run_into_another_actor(api: httpx.Client, account: Account) -> None:
    source, target = _metamorph_pair(api)
    new_input = {"name": "morphed", "env": ["ACTOR_INPUT_KEY", "APIFY_INPUT_KEY", "ACTOR_ID", "ACTOR_RUN_ID"]}
    run_input = {"target": f"{account.username}~morph-target", "input": new_input}
    # run-sync of the first actor answers the second's OUTPUT.
    answer = api.post(f"/acts/{source['id']}/run-sync", json=run_input, timeout=120)
    assert answer.status_code == 201, answer.text
    run = api.get(f"/acts/{source['id']}/runs/last").json()["data"]
    assert run["status"] == "SUCCEEDED", _log(api, run["id"])
    output = answer.json()
    assert output["input"] == new_input
    assert output["env"]["ACTOR_INPUT_KEY"] == output["env"]["APIFY_INPUT_KEY"] == "INPUT-METAMORPH-1"
    assert output["env"]["ACTOR_RUN_ID"] == run["id"]
    assert output["env"]["ACTOR_ID"] == target["id"]
    # The input, stored under its own key; INPUT untouched; the run records the metamorph and still
    # belongs to the first actor (the second has no run).
    assert _record(api, run, "INPUT-METAMORPH-1") == new_input
    assert _record(api, run, "INPUT") == run_input
    assert _record(api, run, "AFTER_METAMORPH") is None
    [morph] = run["metamorphs"]
    assert morph["actorId"] == target["id"] and morph["inputKey"] == "INPUT-METAMORPH-1"
    target_build = api.get(f"/acts/{target['id']}/builds/default").json()["data"]
    assert morph["buildId"] == target_build["id"]
    assert run["actId"] == source["id"] and run["stats"]["metamorph"] == 1
    assert run["stats"]["rebootCount"] == 0
    assert api.get(f"/acts/{target['id']}/runs/last").status_code == 404
    assert "metamorphed into" in _log(api, run["id"])


def test_metamorph_with_the_python_client_and_its_refusals(stack: Stack, account: Account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    with stack.client(account.token) as api:
        counter = _actor(api, "morph-counter", COUNTER_MAIN)
        target = _actor(api, "morph-client-target", STDLIB_MAIN)
        run = client.actor(counter["id"]).start(run_input={"reboots": 3})
        _wait_starts(api, run.model_dump(by_alias=True), 1)
        with pytest.raises(ApifyApiError) as unknown:
            client.run(run.id).metamorph(target_actor_id="nosuchactor")
        assert unknown.value.status_code == 404
        with pytest.raises(ApifyApiError) as no_build:
            client.run(run.id).metamorph(target_actor_id=target["id"], target_actor_build="9.9.9")
        assert no_build.value.status_code == 404
        assert client.run(run.id).get().metamorphs == []  # type: ignore[union-attr]
        morphed = client.run(run.id).metamorph(
            target_actor_id=f"{account.username}/morph-client-target", run_input={"name": "c"}
        )
        assert morphed.status == "RUNNING" and morphed.metamorphs is not None
        assert [m.input_key for m in morphed.metamorphs] == ["INPUT-METAMORPH-1"]
        done = client.run(run.id).wait_for_finish(wait_duration=None)
        assert done is not None and done.status == "SUCCEEDED", _log(api, run.id)
        output = _record(api, done.model_dump(by_alias=True), "OUTPUT")
        assert output["input"] == {"name": "c"}
        with pytest.raises(ApifyApiError) as finished:
            client.run(run.id).metamorph(target_actor_id=target["id"])
        assert finished.value.status_code == 400


def test_metamorph_of_the_last_run_without_input(api: httpx.Client) -> None:
    counter = _actor(api, "morph-last", COUNTER_MAIN)
    target = _actor(api, "morph-last-target", COUNTER_MAIN)
    run = api.post(f"/acts/{counter['id']}/runs", json={"reboots": 3}).json()["data"]
    _wait_starts(api, run, 1)
    missing = api.post(f"/acts/{counter['id']}/runs/last/metamorph")
    assert missing.status_code == 400, missing.text
    morphed = api.post(f"/acts/{counter['id']}/runs/last/metamorph", params={"targetActorId": target["id"]})
    assert morphed.status_code == 200, morphed.text
    # No body: no input record, and the target reads no input (it then ends after its first start).
    done = _finished(api, run["id"])
    assert done["status"] == "SUCCEEDED", _log(api, run["id"])
    assert _record(api, done, "INPUT-METAMORPH-1") is None
    starts = _record(api, done, "STARTS")
    assert [s["env"]["ACTOR_INPUT_KEY"] for s in starts] == ["INPUT", "INPUT-METAMORPH-1"]
    assert starts[1]["env"]["ACTOR_ID"] == target["id"]
    assert _record(api, done, "OUTPUT") == {"starts": 2}


def test_a_run_is_metamorphed_at_most_ten_times(api: httpx.Client) -> None:
    sleeper = api.post("/acts", json=callable_actor("morph-sleeper", "sleep")).json()["data"]
    run = api.post(f"/acts/{sleeper['id']}/runs", json={"seconds": 60}).json()["data"]
    deadline = time.monotonic() + 30
    while api.get(f"/actor-runs/{run['id']}").json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    query = {"targetActorId": sleeper["id"]}
    for n in range(1, 11):
        morphed = api.post(f"/actor-runs/{run['id']}/metamorph", params=query, json={"seconds": 60, "n": n})
        assert morphed.status_code == 200, morphed.text
    refused = api.post(f"/actor-runs/{run['id']}/metamorph", params=query, json={"n": 11})
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "max-metamorphs-exceeded"
    assert api.post(f"/actor-runs/{run['id']}/abort").status_code == 200
    done = _finished(api, run["id"])
    assert done["status"] == "ABORTED", _log(api, run["id"])
    assert [m["inputKey"] for m in done["metamorphs"]] == [f"INPUT-METAMORPH-{n}" for n in range(1, 11)]
    assert _record(api, done, "INPUT-METAMORPH-10") == {"seconds": 60, "n": 10}
    keys = api.get(f"/key-value-stores/{done['defaultKeyValueStoreId']}/keys").json()["data"]["items"]
    assert "INPUT-METAMORPH-11" not in {item["key"] for item in keys}
