"""The environment a process actor gets: Apify's variables (reference §10.1) under all their names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.actors import files_actor
from tests.conftest import Account
from tests.stack import Stack

# Writes its whole environment to OUTPUT, through the API with what that environment says.
DUMP_ENV = """\
import json, os, urllib.request
url = (f"{os.environ['APIFY_API_BASE_URL']}/v2/key-value-stores/"
       f"{os.environ['ACTOR_DEFAULT_KEY_VALUE_STORE_ID']}/records/OUTPUT")
req = urllib.request.Request(url, data=json.dumps(dict(os.environ)).encode(), method="PUT", headers={
    "Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"})
urllib.request.urlopen(req).close()
"""

# Each group: names that must all be set, to one value.
ALIASES = [
    ("ACTOR_RUN_ID", "APIFY_ACTOR_RUN_ID", "APIFY_ACT_RUN_ID"),
    ("ACTOR_ID", "APIFY_ACTOR_ID", "APIFY_ACT_ID"),
    ("ACTOR_TASK_ID", "APIFY_ACTOR_TASK_ID"),
    ("ACTOR_BUILD_ID", "APIFY_ACTOR_BUILD_ID"),
    ("ACTOR_BUILD_NUMBER", "APIFY_ACTOR_BUILD_NUMBER"),
    ("ACTOR_DEFAULT_KEY_VALUE_STORE_ID", "APIFY_DEFAULT_KEY_VALUE_STORE_ID"),
    ("ACTOR_DEFAULT_DATASET_ID", "APIFY_DEFAULT_DATASET_ID"),
    ("ACTOR_DEFAULT_REQUEST_QUEUE_ID", "APIFY_DEFAULT_REQUEST_QUEUE_ID"),
    ("ACTOR_INPUT_KEY", "APIFY_INPUT_KEY"),
    ("ACTOR_MEMORY_MBYTES", "APIFY_MEMORY_MBYTES"),
    ("ACTOR_STARTED_AT", "APIFY_STARTED_AT"),
    ("ACTOR_TIMEOUT_AT", "APIFY_TIMEOUT_AT"),
    ("ACTOR_WEB_SERVER_PORT", "APIFY_CONTAINER_PORT"),
    ("ACTOR_WEB_SERVER_URL", "APIFY_CONTAINER_URL"),
    ("ACTOR_EVENTS_WEBSOCKET_URL", "APIFY_ACTOR_EVENTS_WS_URL"),
]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _run_dumping_env(api: httpx.Client, **params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    actor = api.post("/acts", json=files_actor("dump-env", {"main.py": DUMP_ENV})).json()["data"]
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": "dump-env-task"})
    assert task.status_code == 201, task.text
    response = api.post("/actor-tasks/~dump-env-task/run-sync", params=params)
    assert response.status_code == 201, response.text
    run = api.get("/actor-tasks/~dump-env-task/runs/last").json()["data"]
    assert run["status"] == "SUCCEEDED"
    return run, response.json()


def test_a_process_actor_gets_apifys_variables_under_every_name(
    api: httpx.Client, account: Account, stack: Stack
) -> None:
    run, env = _run_dumping_env(api, timeout=120, memory=512, maxItems=7)
    for names in ALIASES:
        values = {name: env.get(name) for name in names}
        assert len(set(values.values())) == 1 and None not in values.values(), values
    assert env["ACTOR_RUN_ID"] == run["id"]
    assert env["ACTOR_ID"] == run["actId"]
    assert env["ACTOR_TASK_ID"] == run["actorTaskId"] is not None
    assert env["ACTOR_BUILD_ID"] == run["buildId"]
    assert env["ACTOR_BUILD_NUMBER"] == run["buildNumber"]
    assert "latest" in env["ACTOR_BUILD_TAGS"].split(",")
    assert env["ACTOR_FULL_NAME"] == f"{account.username}/dump-env"
    assert env["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"] == run["defaultKeyValueStoreId"]
    assert env["ACTOR_DEFAULT_DATASET_ID"] == run["defaultDatasetId"]
    assert env["ACTOR_DEFAULT_REQUEST_QUEUE_ID"] == run["defaultRequestQueueId"]
    assert env["ACTOR_STORAGES_JSON"] and '"default"' in env["ACTOR_STORAGES_JSON"]
    assert env["ACTOR_INPUT_KEY"] == "INPUT"
    assert env["ACTOR_MEMORY_MBYTES"] == "512"
    assert env["ACTOR_MAX_PAID_DATASET_ITEMS"] == "7"
    assert env["ACTOR_RESTART_ON_ERROR"] == "0"
    started_at = _parse(env["ACTOR_STARTED_AT"])
    assert env["ACTOR_STARTED_AT"] == run["startedAt"]
    timeout_at = _parse(env["ACTOR_TIMEOUT_AT"]) - started_at
    assert timedelta(seconds=119) < timeout_at < timedelta(seconds=130), timeout_at
    assert env["APIFY_TOKEN"].startswith("apify_api_")  # the run's own token (it wrote OUTPUT)
    assert env["APIFY_USER_ID"] == account.user_id
    assert env["APIFY_API_BASE_URL"] == env["APIFY_API_PUBLIC_BASE_URL"] == stack.url
    assert env["APIFY_IS_AT_HOME"] == "1"
    assert env["APIFY_HEADLESS"] == "1"
    assert env["APIFY_META_ORIGIN"] == "API"
    assert env["ACTOR_PERMISSION_LEVEL"] == "FULL_PERMISSIONS"
    assert int(env["APIFY_DEDICATED_CPUS"]) >= 1
    assert env["APIFY_PERSIST_STATE_INTERVAL_MILLIS"] == "60000"
    port = int(env["ACTOR_WEB_SERVER_PORT"])
    assert env["ACTOR_WEB_SERVER_URL"] == f"http://127.0.0.1:{port}"
    assert env["ACTOR_EVENTS_WEBSOCKET_URL"].startswith("ws://127.0.0.1:")
    # Nothing of the worker's own configuration leaks in.
    assert not any(name.startswith("GREENROOM_") for name in env)


def test_each_run_gets_its_own_events_url(api: httpx.Client) -> None:
    _, first = _run_dumping_env(api)
    actor = api.get("/acts/~dump-env").json()["data"]
    second = api.post(f"/acts/{actor['id']}/run-sync").json()
    assert first["ACTOR_RUN_ID"] != second["ACTOR_RUN_ID"]
    assert first["ACTOR_EVENTS_WEBSOCKET_URL"] != second["ACTOR_EVENTS_WEBSOCKET_URL"]
    assert second["ACTOR_TASK_ID"] == ""  # not started through a task
    assert first["ACTOR_TIMEOUT_AT"] != ""  # the default timeout (3600 s) applies
