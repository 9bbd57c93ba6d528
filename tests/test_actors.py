"""Actors: list, update, delete, versions, env vars, tagged builds; and the Python client on them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from apify_client import ApifyClient
from apify_client._models import ActorListItem, ActorResource, EnvVar, Version

from tests.actors import STDLIB_MAIN, callable_actor, files_actor
from tests.conftest import Account
from tests.stack import Stack

ACTOR_GONE = {"type": "record-not-found", "message": "Actor was not found"}
VERSION_GONE = {"type": "record-not-found", "message": "Actor version was not found"}
ENV_VAR_GONE = {"type": "record-not-found", "message": "Environment variable was not found"}
SECRET = "s3cret-value-never-shown"


def _create(api: httpx.Client, body: dict) -> dict:
    response = api.post("/acts", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _callable_version(number: str, target: str, **fields) -> dict:
    source = {"sourceType": "PYTHON_CALLABLE", "callable": f"tests.actors:{target}"}
    return {"versionNumber": number, **source, **fields}


def _run_sync(api: httpx.Client, actor_id: str, body: dict | None = None, **params) -> httpx.Response:
    return api.post(f"/acts/{actor_id}/run-sync", json=body or {}, params=params)


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


# --- list ----------------------------------------------------------------------------------------------


def test_list_actors_paginates_and_sorts(api) -> None:
    names = ["first-one", "second-one", "third-one"]
    ids = [_create(api, callable_actor(n, "echo") | {"title": n.upper()})["id"] for n in names]
    for prefix in ("acts", "actors"):
        listed = api.get(f"/{prefix}", params={"my": "true"}).json()["data"]
        assert (listed["total"], listed["count"], listed["offset"], listed["desc"]) == (3, 3, 0, False)
        assert [a["id"] for a in listed["items"]] == ids
        for item in listed["items"]:
            ActorListItem.model_validate(item)
        assert listed["items"][0]["title"] == "FIRST-ONE"
        assert listed["items"][0]["stats"] == {"totalRuns": 0}
    page = api.get("/acts", params={"limit": 1, "offset": 1, "desc": 1}).json()["data"]
    assert (page["total"], page["count"], page["limit"], page["desc"]) == (3, 1, 1, True)
    assert [a["name"] for a in page["items"]] == ["second-one"]

    # The most recently run actor first; never-run ones after the run ones.
    assert _run_sync(api, ids[0]).status_code == 201
    assert _run_sync(api, ids[2]).status_code == 201
    by_run = api.get("/acts", params={"sortBy": "stats.lastRunStartedAt", "desc": "true"}).json()["data"]
    assert [a["id"] for a in by_run["items"]] == [ids[2], ids[0], ids[1]]
    assert by_run["items"][0]["stats"]["totalRuns"] == 1
    assert by_run["items"][0]["stats"]["lastRunStartedAt"].endswith("Z")
    ascending = api.get("/acts", params={"sortBy": "stats.lastRunStartedAt"}).json()["data"]
    assert [a["id"] for a in ascending["items"]] == [ids[0], ids[2], ids[1]]


@pytest.mark.parametrize("params", [{"sortBy": "name"}, {"my": "maybe"}, {"limit": "x"}])
def test_list_actors_rejects_bad_parameters(api, params) -> None:
    assert _error(api.get("/acts", params=params), 400)["type"] == "invalid-input"


# --- update --------------------------------------------------------------------------------------------


def test_update_is_partial_and_returns_the_actor(api, account) -> None:
    actor = _create(api, callable_actor("upd", "echo", timeoutSecs=60, memoryMbytes=256))
    url = f"/actors/{actor['id']}"
    response = api.put(url, json={"title": "Title", "description": "Desc", "isPublic": True})
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    ActorResource.model_validate(updated)
    assert (updated["title"], updated["description"], updated["isPublic"]) == ("Title", "Desc", True)
    for key in ("id", "name", "versions", "taggedBuilds", "defaultRunOptions", "createdAt"):
        assert updated[key] == actor[key], key
    assert updated["modifiedAt"] >= actor["modifiedAt"]
    assert api.get(f"/acts/{account.username}~upd").json()["data"] == updated

    options = api.put(url, json={"defaultRunOptions": {"memoryMbytes": 512, "restartOnError": True}})
    assert options.json()["data"]["defaultRunOptions"] == {
        "build": "latest",
        "timeoutSecs": 60,
        "memoryMbytes": 512,
        "restartOnError": True,
    }
    assert options.json()["data"]["title"] == "Title"


def test_rename_and_duplicate_name(api, account) -> None:
    _create(api, callable_actor("taken", "echo"))
    actor = _create(api, callable_actor("old-name", "echo"))
    renamed = api.put("/acts/~old-name", json={"name": "new-name"})
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == "new-name"
    assert api.get(f"/acts/{account.username}~new-name").json()["data"]["id"] == actor["id"]
    assert _error(api.get("/acts/~old-name"), 404) == ACTOR_GONE

    clash = api.put(f"/acts/{actor['id']}", json={"name": "taken", "title": "not written"})
    assert _error(clash, 409) == {
        "type": "actor-name-not-unique",
        "message": "Record with the given name already exists.",
    }
    after = api.get(f"/acts/{actor['id']}").json()["data"]
    assert (after["name"], after["title"]) == ("new-name", None)


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"name": "-bad-"}, 400, "invalid-input"),
        ({"title": "x" * 256}, 400, "invalid-input"),
        ({"description": 5}, 400, "invalid-input"),
        ({"isPublic": "yes"}, 400, "invalid-input"),
        ({"defaultRunOptions": {"memoryMbytes": 100}}, 400, "invalid-input"),
        ({"defaultRunOptions": {"maxItems": 0}}, 400, "invalid-input"),
        ({"defaultRunOptions": {"restartOnError": "no"}}, 400, "invalid-input"),
        ({"versions": []}, 400, "invalid-input"),
        ({"versions": [{"versionNumber": "0.0", "sourceType": "GIT_REPO"}]}, 400, "invalid-input"),
        (
            {"versions": [_callable_version("0.0", "echo"), _callable_version("0.0", "noop")]},
            400,
            "invalid-input",
        ),
        ({"versions": [_callable_version("0.0", "echo", envVars=[{"name": "A=B"}])]}, 400, "invalid-input"),
        ({"taggedBuilds": {"latest": {"buildId": "aaaaaaaaaaaaaaaaa"}}}, 400, "invalid-input"),
        ({"taggedBuilds": {"latest": "x"}}, 400, "invalid-input"),
        ({"taggedBuilds": []}, 400, "invalid-input"),
    ],
)
def test_bad_update_writes_nothing(api, body, status, error_type) -> None:
    actor = _create(api, callable_actor("stable", "echo"))
    # A valid change first in the same body: it must not be written either.
    response = api.put(f"/acts/{actor['id']}", json={"title": "should not stick", **body})
    assert _error(response, status)["type"] == error_type
    assert api.get(f"/acts/{actor['id']}").json()["data"] == actor


def test_put_versions_replaces_them_and_builds_changed_ones(api) -> None:
    actor = _create(api, callable_actor("replace-me", "echo"))
    latest = actor["taggedBuilds"]["latest"]
    same = api.put(f"/acts/{actor['id']}", json={"versions": actor["versions"]}).json()["data"]
    assert same["taggedBuilds"]["latest"]["buildId"] == latest["buildId"]  # unchanged: no new build

    versions = [_callable_version("0.0", "text_output"), _callable_version("1.0", "echo", buildTag="beta")]
    replaced = api.put(f"/acts/{actor['id']}", json={"versions": versions}).json()["data"]
    assert [v["versionNumber"] for v in replaced["versions"]] == ["0.0", "1.0"]
    assert replaced["taggedBuilds"]["latest"]["buildNumber"] == "0.0.2"
    assert replaced["taggedBuilds"]["beta"]["buildNumber"] == "1.0.1"
    assert _run_sync(api, actor["id"]).text == "plain words"
    assert _run_sync(api, actor["id"], {"x": 1}, build="beta").json() == {"input": {"x": 1}}


def test_tagged_builds_are_patched(api) -> None:
    actor = _create(
        api,
        {
            "name": "tagged",
            "versions": [
                _callable_version("0.0", "echo"),
                _callable_version("0.1", "text_output", buildTag="beta"),
            ],
        },
    )
    tags = actor["taggedBuilds"]
    assert set(tags) == {"latest", "beta"}
    url = f"/acts/{actor['id']}"

    moved = api.put(url, json={"taggedBuilds": {"latest": {"buildId": tags["beta"]["buildId"]}}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["taggedBuilds"] == {"latest": tags["beta"], "beta": tags["beta"]}
    assert _run_sync(api, actor["id"]).text == "plain words"  # latest now runs version 0.1

    both = api.put(
        url, json={"taggedBuilds": {"stable": {"buildId": tags["latest"]["buildId"]}, "beta": None}}
    ).json()["data"]["taggedBuilds"]
    assert both == {"latest": tags["beta"], "stable": tags["latest"]}
    gone = _run_sync(api, actor["id"], build="beta")
    assert _error(gone, 404)["type"] == "unknown-build-tag"
    assert _run_sync(api, actor["id"], {"y": 2}, build="stable").json() == {"input": {"y": 2}}
    assert api.put(url, json={"taggedBuilds": {"nothing-here": None}}).status_code == 200


# --- delete --------------------------------------------------------------------------------------------


def test_delete_actor_takes_its_tasks_and_runs(api) -> None:
    keep = _create(api, callable_actor("keep-me", "echo"))
    actor = _create(api, callable_actor("delete-me", "echo"))
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": "its-task"}).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 30}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    named = api.post("/key-value-stores", params={"name": "named-store"}).json()["data"]

    response = api.delete(f"/acts/{actor['id']}")
    assert response.status_code == 204 and response.content == b""
    assert _error(api.get(f"/acts/{actor['id']}"), 404) == ACTOR_GONE
    assert _error(api.get(f"/actor-tasks/{task['id']}"), 404)["type"] == "record-not-found"
    assert _error(api.get(f"/actor-runs/{run['id']}"), 404)["message"] == "Actor run was not found"
    assert api.get(f"/datasets/{run['defaultDatasetId']}").status_code == 404
    assert api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}").status_code == 404
    assert api.get(f"/key-value-stores/{named['id']}").status_code == 200
    assert api.get(f"/acts/{keep['id']}").status_code == 200
    assert _error(api.delete(f"/actors/{actor['id']}"), 404) == ACTOR_GONE
    assert [a["id"] for a in api.get("/acts").json()["data"]["items"]] == [keep["id"]]


def test_delete_refuses_while_a_run_is_going(api) -> None:
    actor = _create(api, callable_actor("busy", "sleep"))
    run = api.post(f"/acts/{actor['id']}/runs", json={"seconds": 1.5}).json()["data"]
    refused = api.delete(f"/acts/{actor['id']}")
    assert _error(refused, 400)["type"] == "cannot-remove-running-run"
    assert api.get(f"/acts/{actor['id']}").status_code == 200
    finished = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}).json()["data"]
    assert finished["status"] == "SUCCEEDED"
    assert api.delete("/acts/~busy").status_code == 204


# --- versions ------------------------------------------------------------------------------------------


def test_versions_crud(api, stack, account) -> None:
    actor = _create(api, callable_actor("versioned", "echo"))
    base = f"/actors/{account.username}~versioned/versions"
    listed = api.get(base).json()["data"]
    assert listed == {"total": 1, "items": actor["versions"]}

    created = api.post(base, json=_callable_version("0.1", "text_output", buildTag="beta"))
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{stack.url}/v2/acts/{actor['id']}/versions/0.1"
    version = created.json()["data"]
    Version.model_validate(version)
    assert version["callable"] == "tests.actors:text_output" and version["buildTag"] == "beta"
    assert api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]["beta"]["buildNumber"] == "0.1.1"
    assert api.get(f"{base}/0.1").json()["data"] == version
    assert api.get(base).json()["data"]["total"] == 2

    duplicate = api.post(base, json=_callable_version("0.1", "echo"))
    assert _error(duplicate, 403) == {
        "type": "version-already-exists",
        "message": "Version with this number already exists",
    }
    for bad in ({"versionNumber": "1.x", "sourceType": "PYTHON_CALLABLE"}, {"sourceType": "SOURCE_FILES"}):
        assert _error(api.post(base, json=bad), 400)["type"] == "invalid-input"
    assert api.get(base).json()["data"]["total"] == 2

    # PUT changes only the fields given; POST is its alias.
    put = api.put(f"{base}/0.1", json={"buildTag": "next"}).json()["data"]
    assert put == version | {"buildTag": "next"}
    posted = api.post(f"{base}/0.1", json={"callable": "tests.actors:echo"}).json()["data"]
    assert posted["callable"] == "tests.actors:echo" and posted["buildTag"] == "next"
    assert _error(api.put(f"{base}/0.1", json={"versionNumber": "0.2"}), 400)["type"] == "invalid-input"
    assert _error(api.put(f"{base}/0.1", json={"callable": "no colon"}), 400)["type"] == "invalid-input"
    assert api.get(f"{base}/0.1").json()["data"] == posted

    for missing in ("9.9", "latest"):
        assert _error(api.get(f"{base}/{missing}"), 404) == VERSION_GONE
        assert _error(api.put(f"{base}/{missing}", json={}), 404) == VERSION_GONE
        assert _error(api.delete(f"{base}/{missing}"), 404) == VERSION_GONE
    assert _error(api.get("/acts/~nobody/versions"), 404) == ACTOR_GONE

    assert api.delete(f"{base}/0.1").status_code == 204
    assert _error(api.get(f"{base}/0.1"), 404) == VERSION_GONE
    assert _error(api.delete(f"{base}/0.0"), 403)["type"] == "too-few-versions"
    assert api.get(base).json()["data"]["total"] == 1


def test_concurrent_version_changes_are_all_kept(api) -> None:
    actor = _create(api, callable_actor("contended", "echo"))
    base = f"/acts/{actor['id']}/versions"
    numbers = [f"1.{i}" for i in range(6)]
    with ThreadPoolExecutor(len(numbers)) as pool:
        posted = list(pool.map(lambda n: api.post(base, json=_callable_version(n, "echo")), numbers))
    codes = [r.status_code for r in posted]
    assert codes == [201] * len(numbers)
    assert sorted(v["versionNumber"] for v in api.get(base).json()["data"]["items"]) == ["0.0", *numbers]


def test_a_changed_version_runs_its_new_code(api) -> None:
    actor = _create(api, callable_actor("evolving", "echo"))
    assert _run_sync(api, actor["id"], {"n": 1}).json() == {"input": {"n": 1}}
    before = actor["taggedBuilds"]["latest"]

    changed = api.put(f"/acts/{actor['id']}/versions/0.0", json={"callable": "tests.actors:text_output"})
    assert changed.status_code == 200, changed.text
    after = api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]["latest"]
    assert after["buildId"] != before["buildId"] and after["buildNumber"] == "0.0.2"

    response = _run_sync(api, actor["id"], {"n": 2})
    assert response.status_code == 201 and response.text == "plain words"
    # An explicit build number still runs the old build.
    assert _run_sync(api, actor["id"], {"n": 3}, build="0.0.1").json() == {"input": {"n": 3}}


# --- env vars ------------------------------------------------------------------------------------------


def test_env_vars_crud_and_secrets_stay_hidden(api, stack) -> None:
    version = {"envVars": [{"name": "GREETING", "value": "hello"}]}
    actor = _create(api, files_actor("env-actor", {"main.py": STDLIB_MAIN}, **version))
    base = f"/acts/{actor['id']}/versions/0.0/env-vars"
    assert api.get(base).json()["data"] == {
        "total": 1,
        "items": [{"name": "GREETING", "value": "hello", "isSecret": False}],
    }

    created = api.post(base, json={"name": "TOKEN_X", "value": SECRET, "isSecret": True})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{stack.url}/v2/acts/{actor['id']}/versions/0.0/env-vars/TOKEN_X"
    assert created.json()["data"] == {"name": "TOKEN_X", "isSecret": True}
    EnvVar.model_validate(created.json()["data"])
    duplicate = api.post(base, json={"name": "TOKEN_X", "value": "again"})
    assert _error(duplicate, 403)["type"] == "env-var-already-exists"
    for bad in ({"name": "A=B", "value": "x"}, {"name": "NO_VALUE"}, {"name": "N", "value": 5}, []):
        assert _error(api.post(base, json=bad), 400)["type"] in ("invalid-input", "invalid-request")

    # A secret's value appears in no response.
    for url in (
        base,
        f"{base}/TOKEN_X",
        f"/acts/{actor['id']}/versions/0.0",
        f"/acts/{actor['id']}",
        "/acts",
    ):
        body = api.get(url).text
        assert SECRET not in body, url
        assert "TOKEN_X" in body or url == "/acts", url

    # The run gets both, secret included.
    env = _run_sync(api, actor["id"], {"env": ["GREETING", "TOKEN_X"]}).json()["env"]
    assert env == {"GREETING": "hello", "TOKEN_X": SECRET}

    # PUT without a value keeps a secret's value; making it visible needs a new value.
    assert api.put(f"{base}/TOKEN_X", json={"isSecret": True}).json()["data"] == {
        "name": "TOKEN_X",
        "isSecret": True,
    }
    exposed = api.put(f"{base}/TOKEN_X", json={"isSecret": False})
    assert _error(exposed, 400)["type"] == "invalid-input"
    greeting = api.put(f"{base}/GREETING", json={"value": "bonjour"}).json()["data"]
    assert greeting == {"name": "GREETING", "value": "bonjour", "isSecret": False}
    renamed = api.put(f"{base}/GREETING", json={"name": "SALUT"}).json()["data"]
    assert renamed == {"name": "SALUT", "value": "bonjour", "isSecret": False}
    assert _error(api.put(f"{base}/SALUT", json={"name": "TOKEN_X"}), 403)["type"] == "env-var-already-exists"
    env = _run_sync(api, actor["id"], {"env": ["GREETING", "SALUT", "TOKEN_X"]}).json()["env"]
    assert env == {"GREETING": None, "SALUT": "bonjour", "TOKEN_X": SECRET}

    # A whole-version PUT that sends the secret back without its value (as read) keeps it too.
    read = api.get(f"/acts/{actor['id']}/versions/0.0").json()["data"]
    assert api.put(f"/acts/{actor['id']}/versions/0.0", json={"envVars": read["envVars"]}).status_code == 200

    assert api.delete(f"{base}/SALUT").status_code == 204
    for method in ("GET", "PUT", "DELETE"):
        response = api.request(method, f"{base}/SALUT", json={} if method == "PUT" else None)
        assert _error(response, 404) == ENV_VAR_GONE
    assert _error(api.get(f"/acts/{actor['id']}/versions/3.3/env-vars"), 404) == VERSION_GONE
    env = _run_sync(api, actor["id"], {"env": ["SALUT", "TOKEN_X"]}).json()["env"]
    assert env == {"SALUT": None, "TOKEN_X": SECRET}


# --- the official client -------------------------------------------------------------------------------


def test_python_client_on_actors_versions_and_env_vars(stack: Stack, account: Account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    body = callable_actor("client-actor", "echo")
    actor = client.actors().create(name=body["name"], versions=body["versions"])
    listed = client.actors().list(my=True)
    assert listed.total == 1 and [a.id for a in listed.items] == [actor.id]

    updated = client.actor(actor.id).update(title="From the client", default_run_memory_mbytes=512)
    assert updated.title == "From the client" and updated.default_run_options.memory_mbytes == 512
    assert client.actor(actor.id).get().title == "From the client"

    versions = client.actor(actor.id).versions()
    assert [v.version_number for v in versions.list().items] == ["0.0"]
    created = versions.create(
        version_number="0.1",
        source_type="SOURCE_FILES",
        source_files=[{"name": "main.py", "format": "TEXT", "content": STDLIB_MAIN}],
        env_vars=[{"name": "PLAIN", "value": "visible"}],
    )
    assert created.version_number == "0.1" and created.source_type == "SOURCE_FILES"
    assert versions.list().total == 2
    assert client.actor(actor.id).version("0.1").update(build_tag="beta").build_tag == "beta"

    env_vars = client.actor(actor.id).version("0.0").env_vars()
    env_vars.create(name="KEY", value=SECRET, is_secret=True)
    assert [(v.name, v.value, v.is_secret) for v in env_vars.list().items] == [("KEY", None, True)]
    env_var = client.actor(actor.id).version("0.0").env_var("KEY")
    assert env_var.get().value is None
    assert env_var.update(name="KEY", value="plain now", is_secret=False).value == "plain now"
    env_var.delete()
    assert env_var.get() is None
    client.actor(actor.id).version("0.1").delete()
    assert client.actor(actor.id).version("0.1").get() is None

    client.actor(actor.id).delete()
    assert client.actor(actor.id).get() is None
    assert client.actors().list().total == 0


def test_a_version_update_leaves_the_actors_modified_at(api: httpx.Client) -> None:
    """`apify push` (without --force) refuses files older than the actor's modifiedAt: a push that
    updated the version and moved it made every second push of the same files fail ("was modified
    there since modified locally"). The actor's own fields move it."""
    actor = _create(api, files_actor("pushed", {"main.py": "print(1)"}))
    version = {
        "sourceType": "SOURCE_FILES",
        "sourceFiles": [{"name": "main.py", "format": "TEXT", "content": "print(2)"}],
    }
    time.sleep(0.01)
    assert api.put(f"/acts/{actor['id']}/versions/0.0", json=version).status_code == 200
    env_var = {"name": "MODE", "value": "x"}
    assert api.post(f"/acts/{actor['id']}/versions/0.0/env-vars", json=env_var).status_code == 201
    assert (
        api.post(f"/acts/{actor['id']}/versions", json={**version, "versionNumber": "0.1"}).status_code == 201
    )
    assert api.delete(f"/acts/{actor['id']}/versions/0.1").status_code == 204
    assert api.get(f"/acts/{actor['id']}").json()["data"]["modifiedAt"] == actor["modifiedAt"]
    retitled = api.put(f"/acts/{actor['id']}", json={"title": "New"}).json()["data"]
    assert retitled["modifiedAt"] > actor["modifiedAt"]
