"""`greenroom push DIR`, run as the real command against a real Greenroom."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Account
from tests.packages import PROBE_MAIN, WHEEL_NAME, tiny_wheel
from tests.stack import ROOT, Stack

SDK_ACTORS = Path(__file__).resolve().parent / "sdk_actors"


def _push(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "push", str(directory), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _actor_dir(root: Path, **actor_json: object) -> Path:
    spec = {
        "actorSpecification": 1,
        "name": "pushed",
        "title": "Pushed",
        "version": "0.1",
        "buildTag": "latest",
        "environmentVariables": {"GREETING": "hi", "API_KEY": "@apiKey"},
    } | actor_json
    _write(
        root,
        {
            ".actor/actor.json": json.dumps(spec),
            "main.py": PROBE_MAIN,
            "requirements.txt": f"./vendor/{WHEEL_NAME}\n",
            f"vendor/{WHEEL_NAME}": tiny_wheel(),
            ".gitignore": "ignored.txt\n/secrets/\n*.log\n!keep.log\n",
            "ignored.txt": "no",
            "secrets/a.txt": "no",
            "debug.log": "no",
            "keep.log": "yes",
            "node_modules/x/index.js": "no",
            ".venv/bin/python": "no",
            "storage/key_value_stores/default/INPUT.json": "{}",
            ".git/HEAD": "ref: refs/heads/main",
            "src/__pycache__/x.pyc": b"\x00\x01",
        },
    )
    return root


def test_push_creates_updates_and_builds(stack: Stack, account: Account, tmp_path: Path) -> None:
    directory = _actor_dir(tmp_path / "actor")
    first = _push(directory, "--url", f"{stack.url}/v2", "--token", account.token)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Created actor pushed" in first.stdout
    assert "Successfully installed tinypkg-1.0" in first.stdout  # the log's tail
    assert "Build 0.1.1" in first.stdout and "SUCCEEDED" in first.stdout
    assert "warning: API_KEY refers to the secret @apiKey" in first.stdout

    with stack.client(account.token, timeout=5) as api:
        actor = api.get("/acts/~pushed").json()["data"]
        assert actor["title"] == "Pushed"
        [version] = actor["versions"]
        assert version["versionNumber"] == "0.1" and version["buildTag"] == "latest"
        names = {f["name"] for f in version["sourceFiles"]}
        assert names == {".actor/actor.json", ".gitignore", "main.py", "requirements.txt", "keep.log",
                         f"vendor/{WHEEL_NAME}"}  # fmt: skip
        wheel = next(f for f in version["sourceFiles"] if f["name"].endswith(".whl"))
        assert wheel["format"] == "BASE64"
        run = api.post(f"/acts/{actor['id']}/run-sync", json={"env": ["GREETING", "API_KEY"]})
        assert run.status_code == 201, run.text
        assert run.json()["value"] == 42 and run.json()["env"] == {"GREETING": "hi", "API_KEY": None}

        # The secret, set through the API, survives the next push; token and URL from the environment.
        secret = {"name": "API_KEY", "value": "k3y", "isSecret": True}
        assert api.post(f"/acts/{actor['id']}/versions/0.1/env-vars", json=secret).status_code == 201
        env = {"GREENROOM_URL": stack.url, "GREENROOM_TOKEN": account.token}
        again = _push(directory, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Updated version 0.1 of pushed" in again.stdout and "SUCCEEDED" in again.stdout
        assert "reusing its result" in again.stdout  # same files: no pip this time
        run = api.post(f"/acts/{actor['id']}/run-sync", json={"env": ["API_KEY"]})
        assert run.json()["env"] == {"API_KEY": "k3y"}

        # A broken requirement: the build fails, the command says so and exits 1; latest stays.
        latest = api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]["latest"]
        (directory / "requirements.txt").write_text("definitely not ! a requirement\n")
        broken = _push(directory, env=env)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "FAILED" in broken.stdout and "Invalid requirement" in broken.stdout
        assert api.get(f"/acts/{actor['id']}").json()["data"]["taggedBuilds"]["latest"] == latest


def test_push_needs_an_actor_json_and_a_reachable_api(stack: Stack, account: Account, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print(1)")
    missing = _push(tmp_path, "--url", stack.url, "--token", account.token)
    assert missing.returncode == 1 and "actor.json not found" in missing.stderr
    directory = _actor_dir(tmp_path / "actor")
    bad_token = _push(directory, "--url", stack.url, "--token", "nope")
    assert bad_token.returncode == 1 and "user-or-token-not-found" in bad_token.stderr
    nowhere = _push(directory, "--url", "http://127.0.0.1:9", "--token", account.token)
    assert nowhere.returncode == 1 and "not reachable" in nowhere.stderr


def _push_and_call(stack: Stack, account: Account, directory: Path, name: str) -> None:
    """Push an SDK actor directory unchanged, then run it: its OUTPUT comes back through run-sync."""
    pushed = _push(directory, "--url", stack.url, "--token", account.token)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert f"Created actor {name}" in pushed.stdout and "SUCCEEDED" in pushed.stdout
    with stack.client(account.token, timeout=120) as api:
        actor = api.get(f"/acts/~{name}").json()["data"]
        names = {f["name"] for f in actor["versions"][0]["sourceFiles"]}
        assert ".actor/actor.json" in names and not any("node_modules" in n for n in names)
        run = api.post(f"/acts/{actor['id']}/run-sync", json={"name": "pushed"})
        assert run.status_code == 201, run.text
        assert run.json() == {"hello": "pushed", "input": {"name": "pushed"}}


# The SDK actors' owner pushes (tests/conftest.py): the first push or build of a session installs the SDK
# (pip or npm), a later one reuses it.
@pytest.mark.timeout(300)
def test_push_deploys_the_python_sdk_actor(stack: Stack, sdk_owner: Account) -> None:
    _push_and_call(stack, sdk_owner, SDK_ACTORS / "python", "sdk-python")


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed here")
def test_push_deploys_the_js_sdk_actor(stack: Stack, sdk_owner: Account) -> None:
    _push_and_call(stack, sdk_owner, SDK_ACTORS / "js", "sdk-js")
