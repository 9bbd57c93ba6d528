"""Builds: the API (start, list, get, default, abort, log), builds on workers (venv + pip, npm),
the content cache, tags moving on success only, runs using the right build, secrets, bad sources."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from apify_client import ApifyClient
from apify_client._models import Build, BuildListItem

from server.errors import InvalidInput
from tests.actors import callable_actor
from tests.conftest import Account
from tests.packages import NODE_FILES, PROBE_MAIN, python_files, text, version
from tests.stack import Stack
from worker.builds.directory import content_key, prepare
from worker.builds.steps import BuildTimedOut, Steps, step_env

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"}


def _create(api: httpx.Client, name: str, *versions: dict) -> dict:
    response = api.post("/acts", json={"name": name, "versions": list(versions)})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _builds(api: httpx.Client, actor_id: str, **params) -> list[dict]:
    response = api.get(f"/acts/{actor_id}/builds", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]["items"]


def _finished(api: httpx.Client, build_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        build = api.get(f"/actor-builds/{build_id}", params={"waitForFinish": 60}).json()["data"]
        if build["status"] in TERMINAL:
            return build
    raise AssertionError(f"build {build_id} did not finish")


def _log(api: httpx.Client, build_id: str) -> str:
    response = api.get(f"/actor-builds/{build_id}/log")
    assert response.status_code == 200, response.text
    return response.text


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def _run_output(api: httpx.Client, actor_id: str, body: dict | None = None, **params) -> dict:
    response = api.post(f"/acts/{actor_id}/run-sync", json=body or {}, params=params)
    assert response.status_code == 201, response.text
    return response.json()


def test_python_build_installs_requirements_into_its_own_venv(api: httpx.Client) -> None:
    actor = _create(api, "py-deps", version(python_files()))
    assert actor["taggedBuilds"] == {}  # a SOURCE_FILES build takes its tag when it succeeds
    [first] = _builds(api, actor["id"])
    assert (first["buildNumber"], first["status"] in ("READY", "RUNNING", "SUCCEEDED")) == ("0.0.1", True)
    built = _finished(api, first["id"])
    assert built["status"] == "SUCCEEDED", _log(api, first["id"])
    log = _log(api, first["id"])
    assert "pip" in log and "Successfully installed tinypkg-1.0" in log
    assert built["actVersion"]["versionNumber"] == "0.0" and built["actVersion"]["buildTag"] == "latest"
    Build.model_validate(built)
    tagged = api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]
    assert tagged["latest"]["buildId"] == first["id"] and tagged["latest"]["buildNumber"] == "0.0.1"

    out = _run_output(api, actor["id"])
    assert out["value"] == 42  # installed in the build's venv
    assert out["virtualEnv"] and out["prefix"] == out["virtualEnv"]  # python3 is the venv's
    assert out["pathHead"] == out["virtualEnv"] + "/bin"
    assert out["workerPackages"] is False  # isolated: the worker's own packages are not visible


def test_an_unchanged_version_builds_once(api: httpx.Client) -> None:
    actor = _create(api, "cached", version(python_files(value=7)))
    first = _finished(api, _builds(api, actor["id"])[0]["id"])
    assert first["status"] == "SUCCEEDED"

    started = time.monotonic()
    again = api.post(f"/acts/{actor['id']}/builds", params={"version": "0.0", "waitForFinish": 60})
    elapsed = time.monotonic() - started
    assert again.status_code == 201, again.text
    assert again.headers["location"].endswith(f"/v2/actor-builds/{again.json()['data']['id']}")
    cached = again.json()["data"]
    assert (cached["status"], cached["buildNumber"]) == ("SUCCEEDED", "0.0.2")
    assert cached["options"]["useCache"] is True
    log = _log(api, cached["id"])
    assert "reusing its result" in log and "pip" not in log
    assert elapsed < 5 and cached["stats"]["durationMillis"] < first["stats"]["durationMillis"]
    assert api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]["latest"]["buildNumber"] == "0.0.2"

    # useCache=0: built from scratch, into a directory of its own.
    fresh = api.post(
        f"/acts/{actor['id']}/builds", params={"version": "0.0", "useCache": 0, "waitForFinish": 60}
    ).json()["data"]
    fresh = _finished(api, fresh["id"])
    assert fresh["status"] == "SUCCEEDED" and fresh["options"]["useCache"] is False
    assert "Successfully installed tinypkg-1.0" in _log(api, fresh["id"])
    assert _run_output(api, actor["id"])["value"] == 7


def test_a_failing_build_fails_with_pip_s_error_and_keeps_the_last_good_build(api: httpx.Client) -> None:
    actor = _create(api, "breaks", version(python_files(value=1)))
    good = _finished(api, _builds(api, actor["id"])[0]["id"])
    assert good["status"] == "SUCCEEDED"

    changed = api.put(
        f"/acts/{actor['id']}/versions/0.0",
        json={"sourceFiles": python_files(requirements="this is not ! a requirement\n")},
    )
    assert changed.status_code == 200, changed.text
    bad = _builds(api, actor["id"], desc=1)[0]
    assert bad["buildNumber"] == "0.0.2"
    bad = _finished(api, bad["id"])
    assert bad["status"] == "FAILED"
    log = _log(api, bad["id"])
    assert "Invalid requirement" in log and "pip install failed with exit code" in log
    assert api.get(f"/logs/{bad['id']}").text == log  # /v2/logs/:id serves build logs too

    # The tag stays on the last good build, and runs use it.
    tags = api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]
    assert tags["latest"]["buildId"] == good["id"]
    assert _run_output(api, actor["id"])["value"] == 1
    # A run of the failed build by number fails, saying why.
    run = api.post(f"/acts/{actor['id']}/runs", params={"build": "0.0.2", "waitForFinish": 30}).json()["data"]
    assert run["status"] == "FAILED" and run["buildId"] == bad["id"]
    assert "ended FAILED" in run["statusMessage"]


def test_an_actor_whose_only_build_failed_has_no_default_build(api: httpx.Client) -> None:
    actor = _create(api, "never-built", version(python_files(requirements="!!nope\n")))
    build = _finished(api, _builds(api, actor["id"])[0]["id"])
    assert build["status"] == "FAILED"
    message = 'Build with tag "latest" was not found. Has the Actor been built already?'
    assert _error(api.get(f"/acts/{actor['id']}/builds/default"), 404) == {
        "type": "unknown-build-tag",
        "message": message,
    }
    assert _error(api.post(f"/acts/{actor['id']}/runs"), 404)["type"] == "unknown-build-tag"
    unknown = api.post(f"/acts/{actor['id']}/run-sync", params={"build": "nope"})
    assert _error(unknown, 404)["type"] == "unknown-build-tag"


def test_a_run_right_after_create_builds_what_it_needs(api: httpx.Client) -> None:
    """No waiting for the build: the run uses the pending build and makes its directory if needed."""
    actor = _create(api, "eager", version(python_files(value=5)))
    assert _run_output(api, actor["id"])["value"] == 5
    default = api.get(f"/acts/{actor['id']}/builds/default", params={"waitForFinish": 60}).json()["data"]
    assert default["status"] == "SUCCEEDED" and default["buildNumber"] == "0.0.1"


def test_source_names_that_escape_the_build_directory_are_refused(api: httpx.Client) -> None:
    evil = [text("../../etc/passwd", "x"), text("main.py", "print(1)")]
    assert _error(api.post("/acts", json={"name": "evil", "versions": [version(evil)]}), 400)["type"] == (
        "invalid-input"
    )
    actor = _create(api, "innocent", version([text("main.py", "print(1)")]))
    for response in (
        api.put(f"/acts/{actor['id']}/versions/0.0", json={"sourceFiles": evil}),
        api.post(f"/acts/{actor['id']}/versions", json=version(evil, "0.1")),
        api.put(f"/acts/{actor['id']}", json={"versions": [version([text("/abs.py", "x")])]}),
    ):
        assert _error(response, 400)["type"] == "invalid-input"
    assert [b["buildNumber"] for b in _builds(api, actor["id"])] == ["0.0.1"]  # nothing written
    assert [a["name"] for a in api.get("/acts").json()["data"]["items"]] == ["innocent"]


def test_a_secret_env_var_reaches_the_run_and_no_response(api: httpx.Client) -> None:
    secret = "never-shown-3f9a"
    env_vars = [{"name": "TOKEN_X", "value": secret, "isSecret": True}, {"name": "PLAIN", "value": "p"}]
    actor = _create(api, "secretive", version([text("main.py", PROBE_MAIN)], envVars=env_vars))
    build = _finished(api, _builds(api, actor["id"])[0]["id"])
    out = _run_output(api, actor["id"], {"env": ["TOKEN_X", "PLAIN"]})
    assert out["env"] == {"TOKEN_X": secret, "PLAIN": "p"}
    assert out["virtualEnv"] is None and out["value"] is None  # no requirements.txt: no venv
    for url in (
        f"/acts/{actor['id']}",
        f"/acts/{actor['id']}/versions/0.0",
        f"/actor-builds/{build['id']}",
        f"/acts/{actor['id']}/builds/default",
        f"/acts/{actor['id']}/builds",
        f"/actor-builds/{build['id']}/log",
    ):
        body = api.get(url).text
        assert secret not in body, url
    assert {"name": "TOKEN_X", "isSecret": True} in build["actVersion"]["envVars"]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed here")
def test_node_build_runs_npm_install(api: httpx.Client) -> None:
    actor = _create(api, "node-deps", version(NODE_FILES))
    build = _finished(api, _builds(api, actor["id"])[0]["id"])
    log = _log(api, build["id"])
    assert build["status"] == "SUCCEEDED", log
    assert "npm install" in log
    out = _run_output(api, actor["id"])
    assert out["tiny"] == 7 and out["node"].startswith("v")


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed here")
def test_abort_a_running_build(api: httpx.Client) -> None:
    slow = [text("package.json", '{"name": "slow", "version": "1.0.0", "scripts": {"install": "sleep 60"}}')]
    actor = _create(api, "slow-build", version(slow))
    build_id = _builds(api, actor["id"])[0]["id"]
    deadline = time.monotonic() + 30
    while api.get(f"/actor-builds/{build_id}").json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    started = time.monotonic()
    aborted = api.post(f"/actor-builds/{build_id}/abort")
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["data"]["status"] in ("ABORTING", "ABORTED")
    build = _finished(api, build_id)
    assert build["status"] == "ABORTED" and time.monotonic() - started < 15
    assert "The build was aborted" in _log(api, build_id)
    assert api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"] == {}
    # Aborting a finished build does nothing.
    assert api.post(f"/actor-builds/{build_id}/abort").json()["data"]["status"] == "ABORTED"


def test_build_lists_and_bad_parameters(api: httpx.Client) -> None:
    actor = _create(api, "listed", version([text("main.py", "print(1)")]))
    for _ in range(2):
        made = api.post(f"/actors/{actor['id']}/builds", params={"version": "0.0", "tag": "beta"})
        assert made.status_code == 201, made.text
    items = _builds(api, actor["id"])
    assert [b["buildNumber"] for b in items] == ["0.0.1", "0.0.2", "0.0.3"]
    for item in items:
        BuildListItem.model_validate(item)
    page = api.get(f"/acts/{actor['id']}/builds", params={"desc": 1, "limit": 1, "offset": 1}).json()["data"]
    assert (page["total"], page["count"], [b["buildNumber"] for b in page["items"]]) == (3, 1, ["0.0.2"])
    mine = api.get("/actor-builds").json()["data"]
    assert mine["total"] == 3 and {b["actId"] for b in mine["items"]} == {actor["id"]}
    for item in items:
        _finished(api, item["id"])
    tags = api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]
    assert (tags["latest"]["buildNumber"], tags["beta"]["buildNumber"]) == ("0.0.1", "0.0.3")
    # The deprecated /acts/:id/builds/:buildId answers for that actor's builds only.
    assert api.get(f"/acts/{actor['id']}/builds/{items[0]['id']}").json()["data"]["id"] == items[0]["id"]
    other = _create(api, "other-one", version([text("main.py", "print(2)")]))
    assert _error(api.get(f"/acts/{other['id']}/builds/{items[0]['id']}"), 404)["type"] == "record-not-found"

    base = f"/acts/{actor['id']}/builds"
    bad = ({}, {"version": "x"}, {"version": "0.0", "useCache": "maybe"}, {"version": "0.0", "tag": "t" * 65})
    for params in bad:
        assert _error(api.post(base, params=params), 400)["type"] == "invalid-input", params
    assert _error(api.post(base, params={"version": "9.9"}), 404)["type"] == "record-not-found"
    assert _error(api.get("/actor-builds/aaaaaaaaaaaaaaaaa"), 404)["type"] == "record-not-found"
    assert len(_builds(api, actor["id"])) == 3


def test_a_callable_actor_builds_at_once(api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("callable-build", "echo")).json()["data"]
    assert actor["taggedBuilds"]["latest"]["buildNumber"] == "0.0.1"
    build = api.post(f"/acts/{actor['id']}/builds", params={"version": "0.0"}).json()["data"]
    assert (build["status"], build["buildNumber"]) == ("SUCCEEDED", "0.0.2")
    assert api.get(f"/acts/{actor['id']}/builds/default").json()["data"]["id"] == build["id"]


def test_the_python_client_builds_and_waits(stack: Stack, account: Account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    actor = client.actors().create(name="client-build", versions=[version(python_files(value=3))])
    build = client.actor(actor.id).build(version_number="0.0", wait_for_finish=60)
    finished = client.build(build.id).wait_for_finish(wait_duration=None)
    assert finished is not None and finished.status == "SUCCEEDED" and finished.build_number == "0.0.2"
    default = client.actor(actor.id).default_build().get()
    assert default is not None and default.id == finished.id
    listed = client.actor(actor.id).builds().list()
    assert listed.total == 2
    # 0.0.1 (made with the actor) and 0.0.2 have the same files: whichever a worker takes first
    # installs them, and the other waits for it (CI once saw 0.0.1 be the one waiting).
    logs = [client.build(item.id).log().get() or "" for item in listed.items]
    assert sum("Successfully installed" in log for log in logs) == 1, logs


# --- the builder on its own (no services) ------------------------------------------------------------


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


def _steps(deadline_s: float | None = 60, log: _Lines | None = None) -> Steps:
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    return Steps(log or _Lines(), step_env({}), deadline, None)


def test_a_build_step_past_the_deadline_is_killed_with_its_children(tmp_path: Path) -> None:
    started = time.monotonic()
    script = "sleep 30 & echo $! > child.pid; wait"
    with pytest.raises(BuildTimedOut):
        _steps(0.5).run("sleeper", ["/bin/sh", "-c", script], tmp_path)
    assert time.monotonic() - started < 5
    child = int((tmp_path / "child.pid").read_text())
    time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_the_worker_refuses_names_that_escape_and_leaves_nothing_half_made(tmp_path: Path) -> None:
    builds = tmp_path / "builds"
    with pytest.raises(InvalidInput):
        prepare({"sourceFiles": [text("ok.py", "1"), text("../../evil.py", "x")]}, "k1", builds, _steps())
    assert not (tmp_path / "evil.py").exists() and not (builds / "k1").exists()
    # Out of time half-way (before pip): the directory goes, and the next attempt starts afresh.
    source = {"sourceFiles": python_files()}
    with pytest.raises(BuildTimedOut):
        prepare(source, "k2", builds, _steps(0))
    assert not (builds / "k2").exists()
    made, cached = prepare(source, "k2", builds, _steps())
    assert not cached and made.venv is not None and (made.app / "main.py").is_file()
    assert prepare(source, "k2", builds, _steps()) == (made, True)


def test_concurrent_builds_of_the_same_files_build_once(tmp_path: Path) -> None:
    source = {"sourceFiles": python_files(value=9)}
    key = content_key(source, "alice")
    assert (
        key
        == content_key({"sourceFiles": python_files(value=9)}, "alice")
        != content_key({"sourceFiles": python_files(value=8)}, "alice")
    )
    # Another owner's identical files are another directory: no user's run executes what another
    # user's build made.
    assert content_key(source, "bob") != key
    logs = [_Lines(), _Lines()]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda log: prepare(source, key, tmp_path, _steps(log=log)), logs))
    assert sorted(cached for _, cached in results) == [False, True]
    assert results[0][0] == results[1][0]
    installs = sum("Successfully installed tinypkg-1.0" in " ".join(log.lines) for log in logs)
    assert installs == 1
