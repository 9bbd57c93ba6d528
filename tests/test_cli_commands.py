"""The `greenroom` command's groups, run as the real command against a real Greenroom:
--version and help, call, runs, tokens, users, and the token of a `greenroom dev` found from an
actor's folder."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import ROOT, Stack


def greenroom(
    *args: str, settings: Settings | None = None, stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENROOM_")}
    if settings is not None:
        env |= settings.to_env()
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _api(stack: Stack, account: Account) -> tuple[str, ...]:
    return ("--url", stack.url, "--token", account.token)


def test_version_and_help_for_every_command() -> None:
    version = greenroom("--version")
    assert version.returncode == 0 and version.stdout.strip() == "greenroom 0.1.0"
    top = greenroom("--help").stdout
    commands = ["dev", "serve", "worker", "proxy", "db", "users", "tokens", "push", "call", "runs"]
    for command in commands:
        assert f"    {command} " in top, f"{command} is not described in `greenroom --help`"
    # Every command has a description, and every option and argument its help.
    from server.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
        assert parser.description, f"`{path}` has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from walk(child, f"{path} {name}")
            else:
                yield path, action

    undocumented = [(path, a.dest) for path, a in walk(build_parser(), "greenroom") if not a.help]
    assert not undocumented


def test_call_prints_the_output_or_the_items_and_fails_with_the_run(
    stack: Stack, account: Account, tmp_path: Path
) -> None:
    with stack.client(account.token) as api:
        api.post("/acts", json=callable_actor("echo", "echo")).raise_for_status()
        api.post("/acts", json=callable_actor("items", "push_items")).raise_for_status()
        api.post("/acts", json=callable_actor("boom", "fail")).raise_for_status()
        actor = api.get("/acts/~echo").json()["data"]
        api.post("/actor-tasks", json={"actId": actor["id"], "name": "echo-task", "input": {"a": 1}})
    given = tmp_path / "input.json"
    given.write_text('{"hello": "file"}')
    by_file = greenroom("call", "echo", "--input", str(given), *_api(stack, account))
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout) == {"input": {"hello": "file"}}
    assert "SUCCEEDED" in by_file.stderr  # the progress of the wait, on stderr
    by_stdin = greenroom(
        "call", f"{account.username}~echo", "--input", "-", *_api(stack, account), stdin="[1]"
    )
    assert json.loads(by_stdin.stdout) == {"input": [1]}
    task = greenroom("call", "echo-task", *_api(stack, account))
    assert json.loads(task.stdout) == {"input": {"a": 1}}, task.stderr
    items = greenroom("call", "items", *_api(stack, account))
    assert json.loads(items.stdout) == [{"n": 0}, {"n": 1}, {"n": 2}], items.stderr
    failed = greenroom("call", "boom", *_api(stack, account))
    assert failed.returncode == 1 and failed.stdout == ""
    assert "this actor always fails" in failed.stderr and ": FAILED" in failed.stderr
    missing = greenroom("call", "nothing-so-named", *_api(stack, account))
    assert missing.returncode == 1 and "no task or actor named" in missing.stderr


def test_runs_ls_log_follow_and_abort(stack: Stack, account: Account) -> None:
    with stack.client(account.token) as api:
        actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]
        echo = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]
        done = api.post(f"/acts/{echo['id']}/runs", params={"waitForFinish": 60}, json={"x": 1})
        done_run = done.json()["data"]
        assert done_run["status"] == "SUCCEEDED"
        long = api.post(f"/acts/{actor['id']}/runs", json={"seconds": 60}).json()["data"]
        deadline = time.monotonic() + 30
        while api.get(f"/actor-runs/{long['id']}").json()["data"]["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    listed = greenroom("runs", "ls", *_api(stack, account))
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:2] == ["ID", "STATUS"]
    assert [row.split()[:2] for row in rows[1:]] == [[long["id"], "RUNNING"], [done_run["id"], "SUCCEEDED"]]
    only = greenroom("runs", "ls", "--status", "SUCCEEDED", *_api(stack, account))
    assert [row.split()[0] for row in only.stdout.splitlines()[1:]] == [done_run["id"]]
    log = greenroom("runs", "log", done_run["id"], *_api(stack, account))
    assert log.returncode == 0 and "echo got {'x': 1}" in log.stdout, log.stderr
    follower = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "runs", "log", "-f", long["id"], *_api(stack, account)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        assert follower.poll() is None, "log -f ended while the run goes on"
        aborted = greenroom("runs", "abort", long["id"], "--now", *_api(stack, account))
        assert aborted.returncode == 0, aborted.stderr
        assert aborted.stdout.startswith(f"{long['id']}: ABORT")
        follower.communicate(timeout=30)  # .communicate(timeout=30)  # the followed log ends with the run
        assert follower.returncode == 0
    finally:
        if follower.poll() is None:
            follower.kill()
    unknown = greenroom("runs", "abort", "0" * 17, *_api(stack, account))
    assert unknown.returncode == 1 and "not-found" in unknown.stderr


def test_users_and_tokens_on_the_database(stack: Stack, settings: Settings) -> None:
    name = f"c{uuid.uuid4().hex[:12]}"
    created = greenroom("users", "create", name, settings=settings)
    assert created.returncode == 0, created.stderr
    first = created.stdout.split("token: ")[1].strip()
    assert greenroom("users", "create", "x", settings=settings).returncode == 1
    users = greenroom("users", "ls", settings=settings).stdout
    (row,) = [line for line in users.splitlines() if f" {name} " in line]
    assert row.split()[-1] == "1"
    second = greenroom("tokens", "create", name, settings=settings).stdout.strip()
    assert second.startswith("apify_api_") and second != first
    listed = greenroom("tokens", "ls", name, settings=settings).stdout
    ids = [line.split()[0] for line in listed.splitlines()[1:]]
    assert len(ids) == 2
    assert first not in listed and second not in listed  # the secret is never shown again

    def me(token: str) -> int:
        return httpx.get(f"{stack.url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}).status_code

    assert me(first) == me(second) == 200
    by_token = greenroom("tokens", "revoke", name, second, settings=settings)
    assert by_token.returncode == 0, by_token.stderr
    assert me(second) == 401 and me(first) == 200
    (left,) = [
        line.split()[0] for line in greenroom("tokens", "ls", name, settings=settings).stdout.splitlines()[1:]
    ]
    assert greenroom("tokens", "revoke", name, left, settings=settings).returncode == 0
    assert me(first) == 401
    again = greenroom("tokens", "revoke", name, left, settings=settings)
    assert again.returncode == 1 and "has no token" in again.stderr
    assert greenroom("tokens", "ls", "nobody-here", settings=settings).returncode == 1
    # An expiry: refused once past, listed.
    later = greenroom("tokens", "create", name, "--expires", "30", settings=settings).stdout.strip()
    past = greenroom("tokens", "create", name, "--expires=-1", settings=settings).stdout.strip()
    assert me(later) == 200 and me(past) == 401
    expiries = [
        line.split()[2] for line in greenroom("tokens", "ls", name, settings=settings).stdout.splitlines()[1:]
    ]
    assert len(expiries) == 2 and all(e.endswith("Z") for e in expiries)
    # A description, and the last use (recorded by the API off the request's path).
    described = greenroom("tokens", "create", name, "--description", "nightly export", settings=settings)
    assert me(described.stdout.strip()) == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = greenroom("tokens", "ls", name, settings=settings).stdout.splitlines()
        (row,) = [line for line in rows if line.endswith("  nightly export")]
        if row.split()[3] != "never":
            break
    assert row.split()[3].endswith("Z"), row
    too_long = greenroom("tokens", "create", name, "--description", "x" * 201, settings=settings)
    assert too_long.returncode == 2 and "200 characters" in too_long.stderr
    # The names before `users ls` and `tokens ls` still work.
    assert greenroom("token", "create", name, settings=settings).stdout.startswith("apify_api_")


def test_a_dev_token_is_found_from_the_actor_folder(stack: Stack, account: Account, tmp_path: Path) -> None:
    """`greenroom dev` leaves data/admin-token and data/api-url in the folder it runs in; a command run
    in an actor's folder below it (or naming that folder) finds them."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "admin-token").write_text(account.token + "\n")
    (project / "data" / "api-url").write_text(stack.url + "\n")
    actor_dir = project / "actors" / "mine"
    actor_dir.mkdir(parents=True)
    with stack.client(account.token) as api:
        api.post("/acts", json=callable_actor("echo", "echo")).raise_for_status()
    found = greenroom("call", "echo", "--input", "-", cwd=actor_dir, stdin="{}")
    assert found.returncode == 0, found.stderr
    pushed = greenroom("push", str(actor_dir), cwd=tmp_path)
    assert "actor.json not found" in pushed.stderr  # got past the token: the folder's dev was found
    nothing = greenroom("runs", "ls", cwd=tmp_path)
    assert nothing.returncode == 2 and "no API token" in nothing.stderr


@pytest.mark.parametrize("bad", ["{", "[1"])
def test_call_refuses_input_that_is_not_json(bad: str, tmp_path: Path) -> None:
    result = greenroom("call", "x", "--input", "-", "--token", "t", "--url", "http://127.0.0.1:9", stdin=bad)
    assert result.returncode == 1 and "is not JSON" in result.stderr
