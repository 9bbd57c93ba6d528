"""The npm apify-cli (tests/cli, pinned in its package-lock.json), unmodified, against a real
Greenroom, as a user would drive it: log in with a token, push an actor directory, call it, read what
it made. No keyring, telemetry or update checks, and no network beyond Greenroom. Skipped without node.

For a new actor, `apify push` fetches Apify's template manifest from the internet before it creates
the actor (its own behaviour, whatever the server says), so the actor is created first with
`greenroom push`, as the README says; every later push is the CLI's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.npm import NODE, NPM, npm_installed
from tests.stack import ROOT, Stack

CLI_DIR = Path(__file__).resolve().parent / "cli"

pytestmark = [
    pytest.mark.skipif(
        NODE is None or NPM is None, reason="node and npm are not on PATH: the CLI test is optional"
    ),
    pytest.mark.timeout(300),
]

# A stdlib actor: reads INPUT, pushes one dataset item, writes OUTPUT, prints a line.
MAIN = """\
import json, os, urllib.request
base, token = os.environ["APIFY_API_BASE_URL"], os.environ["APIFY_TOKEN"]
auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
store, dataset = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"], os.environ["ACTOR_DEFAULT_DATASET_ID"]
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(base + "/v2" + path, data, auth, method=method)) as r:
        return r.read()
given = json.loads(call("GET", f"/key-value-stores/{store}/records/INPUT") or b"null")
call("POST", f"/datasets/{dataset}/items", [{"seen": given}])
call("PUT", f"/key-value-stores/{store}/records/OUTPUT", {"echo": given})
print("the cli actor ran with", json.dumps(given, sort_keys=True))
"""


@dataclass
class Cli:
    home: Path
    actor_dir: Path
    env: dict[str, str]
    token: str
    username: str

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(CLI_DIR / "node_modules" / ".bin" / "apify"), *args],
            cwd=self.actor_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = f"apify {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert done.returncode == 0, said
        return done


@pytest.fixture
def cli(stack: Stack, db: SyncDatabase, tmp_path: Path) -> Iterator[Cli]:
    npm_installed(CLI_DIR)
    user, token = create_user(db, f"cli{uuid.uuid4().hex[:12]}")
    home, actor_dir = tmp_path / "home", tmp_path / "my-actor"
    (actor_dir / ".actor").mkdir(parents=True)
    home.mkdir()
    spec = {"actorSpecification": 1, "name": "cli-actor", "version": "0.0", "buildTag": "latest"}
    (actor_dir / ".actor" / "actor.json").write_text(json.dumps(spec))
    (actor_dir / "main.py").write_text(MAIN)
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "APIFY_CLIENT_BASE_URL": stack.url,
        "APIFY_DISABLE_KEYRING": "1",
        "APIFY_CLI_DISABLE_TELEMETRY": "1",
        "APIFY_CLI_SKIP_UPDATE_CHECK": "1",
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    yield Cli(home, actor_dir, env, token, user.username)


def test_the_apify_cli_logs_in_pushes_calls_and_reads(cli: Cli, stack: Stack) -> None:
    login = cli("login", "-t", cli.token)
    assert "Success" in login.stdout + login.stderr
    assert cli.username in cli("info").stdout
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "push",
            str(cli.actor_dir),
            "--url",
            stack.url,
            "--token",
            cli.token,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert created.returncode == 0, created.stdout + created.stderr
    # An edit, then two pushes: the second found "newer changes than your local copy" when a version
    # update moved the actor's modifiedAt.
    time.sleep(1.1)
    (cli.actor_dir / "main.py").write_text(MAIN + "# edited\n")
    for _ in range(2):
        pushed = cli("push")
        assert "SUCCEEDED" in pushed.stdout + pushed.stderr
    assert "SUCCEEDED" in (forced := cli("push", "--force")).stdout + forced.stderr

    called = cli("call", "-i", json.dumps({"hello": "cli"}))
    out = called.stdout + called.stderr
    assert "SUCCEEDED" in out and 'the cli actor ran with {"hello": "cli"}' in out, out
    dataset_id = next(line.split()[-1] for line in out.splitlines() if line.startswith("Dataset ID:"))
    items = cli("datasets", "get-items", dataset_id).stdout
    assert '"seen"' in items and "cli" in items, items

    info = cli("actors", "info", "cli-actor").stdout
    assert f"{cli.username}/cli-actor" in info
    runs = cli("runs", "ls", "cli-actor").stdout
    assert "Succeeded" in runs
    builds = cli("builds", "ls", "cli-actor").stdout
    assert "0.0.4" in builds  # greenroom push's build and the CLI's three
