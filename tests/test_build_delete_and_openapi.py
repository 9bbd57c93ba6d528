"""DELETE /v2/actor-builds/:id (what may not be deleted) and a build's openapi.json."""

from __future__ import annotations

import json

import httpx
import pytest
from apify_client import ApifyClient
from apify_client.errors import ApifyApiError
from sqlalchemy import update

from server.storage.db import SyncDatabase
from server.storage.models import Build
from tests.actors import files_actor
from tests.conftest import Account
from tests.stack import Stack

INPUT_SCHEMA = {
    "title": "Greeter input",
    "type": "object",
    "schemaVersion": 1,
    "properties": {
        "name": {
            "title": "Name",
            "type": "string",
            "description": "Who",
            "editor": "textfield",
            "prefill": "x",
        },
        "times": {
            "title": "Times",
            "type": "integer",
            "description": "How often",
            "minimum": 1,
            "default": 2,
        },
        "urls": {
            "title": "URLs",
            "type": "array",
            "description": "Where",
            "editor": "requestListSources",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "title": "URL", "description": "A page", "editor": "textfield"}
                },
            },
        },
    },
    "required": ["name"],
}
MAIN = "print('hi')"


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def _built(api: httpx.Client, actor_id: str) -> dict:
    r = api.post(f"/acts/{actor_id}/builds", params={"version": "0.0", "waitForFinish": 60})
    assert r.status_code == 201 and r.json()["data"]["status"] == "SUCCEEDED", r.text
    return dict(r.json()["data"])


def test_build_openapi_definition(stack: Stack, account: Account, api: httpx.Client) -> None:
    files = {
        "main.py": MAIN,
        ".actor/actor.json": json.dumps({"actorSpecification": 1, "input": "./schema.json"}),
    }
    files[".actor/schema.json"] = json.dumps(INPUT_SCHEMA)
    body = files_actor("greeter", files) | {"title": "The Greeter", "description": "Greets."}
    actor_id = api.post("/acts", json=body).json()["data"]["id"]
    build = _built(api, actor_id)

    doc = _client(stack, account).build(build["id"]).get_open_api_definition()
    assert doc["openapi"] == "3.0.1" and doc["servers"] == [{"url": f"{stack.url}/v2"}]
    assert doc["info"] == {
        "title": "The Greeter",
        "description": "Greets.",
        "version": "0.0",
        "x-build-id": build["id"],
    }
    slug = f"{account.username}~greeter"
    assert sorted(doc["paths"]) == sorted(
        f"/acts/{slug}/{tail}" for tail in ("run-sync-get-dataset-items", "runs", "run-sync")
    )
    runs = doc["paths"][f"/acts/{slug}/runs"]["post"]
    assert runs["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/inputSchema"
    }
    assert runs["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "runsResponseSchema"
    )
    schema = doc["components"]["schemas"]["inputSchema"]
    # The input schema as JSON Schema: its editor hints left out, its constraints kept.
    assert schema == {
        "title": "Greeter input",
        "type": "object",
        "properties": {
            "name": {"title": "Name", "type": "string", "description": "Who"},
            "times": {
                "title": "Times",
                "type": "integer",
                "description": "How often",
                "minimum": 1,
                "default": 2,
            },
            "urls": {
                "title": "URLs",
                "type": "array",
                "description": "Where",
                "items": {
                    "type": "object",
                    "properties": {"url": {"type": "string", "title": "URL", "description": "A page"}},
                },
            },
        },
        "required": ["name"],
    }

    # The build's id is the credential: no token needed; the actor's route and its default build agree.
    anonymous = httpx.get(f"{stack.url}/v2/actor-builds/{build['id']}/openapi.json")
    assert anonymous.status_code == 200 and anonymous.json() == doc
    for ref in (actor_id, slug):
        for which in (build["id"], "default"):
            r = api.get(f"/actors/{ref}/builds/{which}/openapi.json")
            assert r.status_code == 200 and r.json() == doc, r.text
    assert httpx.get(f"{stack.url}/v2/acts/{slug}/builds/default/openapi.json").json() == doc

    # Without an input schema the body is any object; a build of another actor is not found.
    plain_id = api.post("/acts", json=files_actor("plain", {"main.py": MAIN})).json()["data"]["id"]
    plain = _built(api, plain_id)
    plain_doc = api.get(f"/actor-builds/{plain['id']}/openapi.json").json()
    assert plain_doc["components"]["schemas"]["inputSchema"] == {"type": "object", "properties": {}}
    assert "description" not in plain_doc["info"] and plain_doc["info"]["title"] == "plain"
    wrong = api.get(f"/acts/{actor_id}/builds/{plain['id']}/openapi.json")
    assert wrong.status_code == 404 and wrong.json()["error"]["type"] == "record-not-found"
    assert httpx.get(f"{stack.url}/v2/actor-builds/nosuchbuild000000/openapi.json").status_code == 404


def test_build_delete(stack: Stack, account: Account, api: httpx.Client, db: SyncDatabase) -> None:
    actor_id = api.post("/acts", json=files_actor("deletable", {"main.py": MAIN})).json()["data"]["id"]
    first = _built(api, actor_id)
    client = _client(stack, account)

    # The default build (the one `latest` points at) may not be deleted.
    with pytest.raises(ApifyApiError) as refused:
        client.build(first["id"]).delete()
    assert refused.value.status_code == 400 and refused.value.type == "deleting-default-build"

    second = _built(api, actor_id)  # takes `latest`
    run = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 60, "build": first["buildNumber"]})
    assert run.json()["data"]["buildId"] == first["id"], run.text
    # Another tag pointing at it goes with it.
    assert (
        api.put(f"/acts/{actor_id}", json={"taggedBuilds": {"old": {"buildId": first["id"]}}}).status_code
        == 200
    )

    # A build not finished yet may not be deleted (made so in the row: a real one finishes too fast).
    with db.transaction() as session:
        session.execute(update(Build).where(Build.id == first["id"]).values(status="RUNNING"))
    try:
        unfinished = api.delete(f"/actor-builds/{first['id']}")
        assert (
            unfinished.status_code == 400
            and unfinished.json()["error"]["type"] == "deleting-unfinished-build"
        )
    finally:
        with db.transaction() as session:
            session.execute(update(Build).where(Build.id == first["id"]).values(status="SUCCEEDED"))

    client.build(first["id"]).delete()
    assert client.build(first["id"]).get() is None
    assert api.get(f"/actor-builds/{first['id']}/log").status_code == 404
    tags = api.get(f"/acts/{actor_id}").json()["data"]["taggedBuilds"]
    assert set(tags) == {"latest"} and tags["latest"]["buildId"] == second["id"]
    listed = [b["id"] for b in api.get(f"/acts/{actor_id}/builds").json()["data"]["items"]]
    assert first["id"] not in listed and second["id"] in listed
    gone = api.delete(f"/actor-builds/{first['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "record-not-found"

    # A run of the deleted build can be resurrected only on another build.
    run_id = run.json()["data"]["id"]
    stale = api.post(f"/actor-runs/{run_id}/resurrect")
    assert stale.status_code == 400 and stale.json()["error"]["type"] == "build-not-found", stale.text
    moved = api.post(f"/actor-runs/{run_id}/resurrect", params={"build": "latest"})
    assert moved.status_code == 200 and moved.json()["data"]["buildId"] == second["id"], moved.text
    api.get(f"/actor-runs/{run_id}", params={"waitForFinish": 60})
