"""What a build shows of its files (actorDefinition, inputSchema, readme: what `apify actors info
--input/--readme` print) and an actor's stats (what `apify actors info` and `actors ls --my` print),
read with the official Python client."""

from __future__ import annotations

import json

import httpx
from apify_client import ApifyClient

from tests.actors import callable_actor, files_actor
from tests.conftest import Account
from tests.stack import Stack

SCHEMA = {"title": "In", "type": "object", "schemaVersion": 1, "properties": {"q": {"type": "string"}}}
SPEC = {
    "actorSpecification": 1,
    "name": "defined",
    "version": "0.0",
    "title": "Defined",
    "input": "./input_schema.json",
    "readme": "../docs/README.md",
    "environmentVariables": {"MODE": "test"},
    "minMemoryMbytes": True,  # not an integer: left out, never passed on as the wrong type
    "storages": {"dataset": "./dataset_schema.json"},  # a path to no file: left out
}
FILES = {
    ".actor/actor.json": json.dumps(SPEC),
    ".actor/input_schema.json": json.dumps(SCHEMA),
    "docs/README.md": "# Defined\nAn actor.\n",
    "README.md": "# Not this one\n",
    "main.py": "print('hi')\n",
}


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def test_a_build_shows_its_actor_json_input_schema_and_readme(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    actor = api.post("/acts", json=files_actor("defined", FILES)).json()["data"]
    build_id = api.get(f"/acts/{actor['id']}/builds").json()["data"]["items"][0]["id"]
    build = _client(stack, account).build(build_id).get()
    assert build is not None
    # The client's model reads them (as deprecated fields: read here without the warning).
    dumped = build.model_dump(by_alias=True)
    assert dumped["inputSchema"] is not None and json.loads(dumped["inputSchema"]) == SCHEMA
    assert dumped["readme"] == "# Defined\nAn actor.\n"
    shown = api.get(f"/actor-builds/{build_id}").json()["data"]["actorDefinition"]
    assert shown == {
        "actorSpecification": 1,
        "name": "defined",
        "version": "0.0",
        "title": "Defined",
        "environmentVariables": {"MODE": "test"},
        "input": SCHEMA,
        "readme": "# Defined\nAn actor.\n",
    }


def test_a_build_without_actor_json_finds_the_usual_files(api: httpx.Client) -> None:
    files = {".actor/input_schema.json": json.dumps(SCHEMA), "README.md": "# Plain\n", "main.py": ""}
    actor = api.post("/acts", json=files_actor("plain", files)).json()["data"]
    build = api.get(f"/acts/{actor['id']}/builds").json()["data"]["items"][0]
    shown = api.get(f"/actor-builds/{build['id']}").json()["data"]
    assert shown["actorDefinition"] is None and shown["readme"] == "# Plain\n"
    assert json.loads(shown["inputSchema"]) == SCHEMA
    broken = {".actor/actor.json": "{not json", "main.py": ""}
    actor = api.post("/acts", json=files_actor("broken", broken)).json()["data"]
    build = api.get(f"/acts/{actor['id']}/builds").json()["data"]["items"][0]
    shown = api.get(f"/actor-builds/{build['id']}").json()["data"]
    assert (shown["actorDefinition"], shown["inputSchema"], shown["readme"]) == (None, None, None)


def test_an_actors_stats_count_its_builds_and_runs(stack: Stack, account: Account, api: httpx.Client) -> None:
    client = _client(stack, account)
    actor = api.post("/acts", json=callable_actor("counted", "noop")).json()["data"]
    fresh = api.get(f"/acts/{actor['id']}").json()["data"]["stats"]
    assert fresh == {
        "totalBuilds": 1,
        "totalRuns": 0,
        "totalUsers": 1,
        "totalUsers7Days": 0,
        "totalUsers30Days": 0,
        "totalUsers90Days": 0,
    }
    run = client.actor(actor["id"]).call()
    assert run is not None and run.status == "SUCCEEDED"
    stats = api.get(f"/acts/{actor['id']}").json()["data"]["stats"]
    assert stats["totalRuns"] == 1 and stats["totalUsers30Days"] == 1
    assert stats["lastRunStartedAt"] == api.get(f"/actor-runs/{run.id}").json()["data"]["startedAt"]
    updated = api.put(f"/acts/{actor['id']}", json={"title": "Counted"}).json()["data"]
    assert updated["stats"] == stats
