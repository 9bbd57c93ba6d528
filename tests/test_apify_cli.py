"""The npm apify-cli (tests/cli, pinned in its package-lock.json), unmodified, against a real
Greenroom, as a user would drive it: log in with a token, push a template-shaped actor
(tests/cli_actor.py) that crawls a site served on loopback, call and start it, and inspect runs,
builds, actors, tasks, datasets and key-value stores with the CLI, each command's output checked
and what it changed read back through the API. No keyring, telemetry or update checks, and no
network beyond Greenroom and the site. Skipped without node.

For a new actor, `apify push` fetches Apify's template manifest from the internet before it creates
the actor (its own behaviour, whatever the server says), so the actor is created first with
`greenroom push`, as the README says; every later push is the CLI's. `apify api --list-endpoints`
and `--describe` download Apify's OpenAPI document from docs.apify.com: not tested here.

Each CLI start costs seconds of CPU (it loads its whole bundle), so independent commands run side
by side, each with a HOME of its own (a copy of the logged-in one: the CLI rewrites state files
there on every command).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.storage.db import SyncDatabase
from server.users import create_user
from tests import services
from tests.cli_actor import ACTOR_FILES, ACTOR_NAME, INPUT_SCHEMA, README, serve_site
from tests.npm import NODE, NPM, npm_installed
from tests.stack import ROOT, Stack

CLI_DIR = Path(__file__).resolve().parent / "cli"

pytestmark = [
    pytest.mark.skipif(
        NODE is None or NPM is None, reason="node and npm are not on PATH: the CLI test is optional"
    ),
    pytest.mark.timeout(900),
]

Done = subprocess.CompletedProcess[str]


@dataclass
class Cli:
    home: Path
    actor_dir: Path
    env: dict[str, str]
    token: str
    username: str
    api: httpx.Client
    site: str
    url: str

    def __call__(self, *args: str, code: int = 0) -> Done:
        return self._run(args, self.home, code)

    def many(self, *commands: tuple[str, ...]) -> list[Done]:
        """Commands side by side, each with a copy of the HOME (a read beside a write may see it or not)."""
        homes = [self.home.parent / f"home-{uuid.uuid4().hex[:8]}" for _ in commands]
        for home in homes:
            shutil.copytree(self.home, home)
        with ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(lambda a: self._run(a[0], a[1], 0), zip(commands, homes, strict=True)))

    def _run(self, args: tuple[str, ...], home: Path, code: int) -> Done:
        done = subprocess.run(
            [str(CLI_DIR / "node_modules" / ".bin" / "apify"), *args],
            cwd=self.actor_dir,
            env=self.env | {"HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        said = f"apify {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert done.returncode == code, said
        return done

    def input(self, **given: Any) -> str:
        return json.dumps({"startUrl": self.site + "/", **given})

    def greenroom_push(self) -> None:
        """Create the actor (see the module's docstring) and build it: Greenroom's own push."""
        command = [sys.executable, "-m", "server.cli", "push", str(self.actor_dir)]
        created = subprocess.run(
            [*command, "--url", self.url, "--token", self.token],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert created.returncode == 0, created.stdout + created.stderr

    def get(self, path: str, **params: Any) -> Any:
        response = self.api.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"]


def said(done: Done) -> str:
    return done.stdout + done.stderr


def json_out(done: Done) -> Any:
    return json.loads(done.stdout)


@pytest.fixture
def cli(stack: Stack, db: SyncDatabase, tmp_path: Path) -> Iterator[Cli]:
    if db.engine.dialect.name == "sqlite" and services.postgres_available():
        # One backend is enough here: the CLI sees only the HTTP API, which the contract tests and
        # the client table check on both; each of its ~40 commands costs some 5 s of CPU to start.
        pytest.skip("the CLI test runs on PostgreSQL when it is there (SQLite otherwise)")
    npm_installed(CLI_DIR)
    user, token = create_user(db, f"cli{uuid.uuid4().hex[:12]}")
    home, actor_dir = tmp_path / "home", tmp_path / "my-actor"
    home.mkdir()
    for name, text in ACTOR_FILES.items():
        (actor_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (actor_dir / name).write_text(text)
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "APIFY_CLIENT_BASE_URL": stack.url,
        "APIFY_DISABLE_KEYRING": "1",
        "APIFY_CLI_DISABLE_TELEMETRY": "1",
        "APIFY_CLI_SKIP_UPDATE_CHECK": "1",
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    with serve_site() as site, stack.client(token) as api:
        yield Cli(home, actor_dir, env, token, user.username, api, site, stack.url)


def test_the_apify_cli_pushes_calls_and_reads_storages(cli: Cli) -> None:
    login = cli("login", "-t", cli.token)
    assert "Success" in said(login)
    assert cli.username in cli("info").stdout
    cli.greenroom_push()
    # An edit, then two pushes: the second found "newer changes than your local copy" when a version
    # update moved the actor's modifiedAt.
    time.sleep(1.1)
    (cli.actor_dir / "src" / "main.py").write_text(ACTOR_FILES["src/main.py"] + "# edited\n")
    for _ in range(2):
        assert "SUCCEEDED" in said(cli("push"))
    assert "SUCCEEDED" in said(cli("push", "--force"))
    time.sleep(1.1)
    (cli.actor_dir / "src" / "main.py").write_text(ACTOR_FILES["src/main.py"] + "# edited again\n")
    pushed = cli("push", "--wait-for-finish", "120")
    assert "Build: SUCCEEDED" in pushed.stdout, said(pushed)
    actor = cli.get(f"/acts/{cli.username}~{ACTOR_NAME}")
    latest = cli.get(f"/actor-builds/{actor['taggedBuilds']['latest']['buildId']}")
    assert f"Build number: {latest['buildNumber']}" in pushed.stdout and latest["status"] == "SUCCEEDED"
    files = {f["name"]: f["content"] for f in actor["versions"][0]["sourceFiles"]}
    assert files["src/main.py"].endswith("# edited again\n") and ".actor/input_schema.json" in files

    (cli.actor_dir / "input.json").write_text(cli.input(maxPages=5))
    called = cli("call", "--input-file", "input.json", "--output-dataset")
    assert "Crawled " + cli.site + "/a - Page A" in called.stderr, said(called)
    printed = json.loads(called.stdout[called.stdout.index("[{") :].strip())
    assert sorted(item["title"] for item in printed) == ["Home", "Page A", "Page B"]
    run_id = next(line.split()[-1] for line in called.stdout.splitlines() if line.startswith("Run ID:"))
    run = cli.get(f"/actor-runs/{run_id}")
    assert run["status"] == "SUCCEEDED" and run["statusMessage"] == "Crawled 3 pages"
    assert cli.api.get(f"/datasets/{run['defaultDatasetId']}/items").json() == printed

    once = cli("call", "-i", cli.input(maxPages=1))
    assert "Crawled " + cli.site + "/ - Home" in once.stderr and "Done: 1 pages" in once.stderr
    dataset_id, store_id = run["defaultDatasetId"], run["defaultKeyValueStoreId"]

    (
        got_items,
        got_csv,
        datasets_unnamed,
        dataset_info,
        stores_unnamed,
        store_info,
        keys,
        output,
        output_type,
        set_value,
        me,
        made,
    ) = cli.many(
        ("datasets", "get-items", dataset_id),
        ("datasets", "get-items", dataset_id, "--format", "csv", "--limit", "1"),
        ("datasets", "ls", "--unnamed", "--json"),
        ("datasets", "info", dataset_id),
        ("key-value-stores", "ls", "--unnamed", "--json"),
        ("key-value-stores", "info", store_id),
        ("key-value-stores", "keys", store_id, "--json"),
        ("key-value-stores", "get-value", store_id, "OUTPUT"),
        ("key-value-stores", "get-value", store_id, "INPUT", "--only-content-type"),
        ("key-value-stores", "set-value", store_id, "NOTE", '{"from": "the cli"}'),
        ("api", "users/me"),
        ("api", "POST", "datasets", "-p", '{"name": "from-the-cli"}'),
    )
    assert json.loads(got_items.stdout) == printed
    assert got_csv.stdout.lstrip("\ufeff").split() == ["url,title", f"{cli.site}/,Home"]
    listed = json_out(datasets_unnamed)
    assert {dataset_id, once_dataset(cli)} <= {d["id"] for d in listed["items"]}
    assert "Items: 3 clean / 3 total" in dataset_info.stdout and f"Run: {run_id}" in dataset_info.stdout
    assert store_id in {s["id"] for s in json_out(stores_unnamed)["items"]}
    assert f"Run: {run_id}" in store_info.stdout and "Greenroom CLI check" in store_info.stdout
    # set-value NOTE ran beside the listing: NOTE may or may not be in it.
    assert {k["key"] for k in json_out(keys)["items"]} - {"NOTE"} == {"INPUT", "OUTPUT"}
    assert json.loads(output.stdout) == {"pages": 3, "titles": ["Home", "Page A", "Page B"]}
    assert said(output_type).strip() == "application/json", said(output_type)  # on stderr
    assert "NOTE" in said(set_value)
    note = cli.api.get(f"/key-value-stores/{store_id}/records/NOTE")
    assert note.json() == {"from": "the cli"}
    assert note.headers["content-type"].startswith("application/json")
    assert json.loads(me.stdout)["data"]["username"] == cli.username
    named = json.loads(made.stdout)["data"]
    assert named["name"] == "from-the-cli" and cli.get(f"/datasets/{named['id']}")["name"] == "from-the-cli"

    # Named datasets only (without --unnamed); the CLI's raw API call with a method and query.
    named_list, runs_page = cli.many(
        ("datasets", "ls", "--json"), ("api", "GET", "/v2/actor-runs", "-p", '{"limit": 1, "desc": true}')
    )
    assert [d["name"] for d in json_out(named_list)["items"]] == ["from-the-cli"]
    page = json.loads(runs_page.stdout)["data"]
    assert page["total"] == 2 and page["items"][0]["defaultDatasetId"] == once_dataset(cli)


def once_dataset(cli: Cli) -> str:
    """The default dataset of the user's latest run."""
    runs = cli.get("/actor-runs", desc=1, limit=1)
    return str(runs["items"][0]["defaultDatasetId"])


def test_the_apify_cli_drives_runs_builds_actors_and_tasks(cli: Cli) -> None:
    cli("login", "-t", cli.token)
    cli.greenroom_push()
    actor = cli.get(f"/acts/{cli.username}~{ACTOR_NAME}")
    first_build = actor["taggedBuilds"]["latest"]["buildId"]
    task_input = {"startUrl": cli.site + "/b", "maxPages": 1}
    task_body = {"actId": actor["id"], "name": "cli-task", "input": task_input}
    task = cli.api.post("/actor-tasks", json=task_body)
    assert task.status_code == 201, task.text

    # Builds: created by the CLI, tagged, their logs; runs of a task and of a call.
    created, built, task_run, actor_call = cli.many(
        ("builds", "create", "--version", "0.0", "--wait"),
        ("actors", "build", "--log"),
        ("task", "run", f"{cli.username}/cli-task"),
        ("actors", "call", "-i", cli.input(maxPages=1), "-o", "-s"),
    )
    assert "Build: SUCCEEDED" in created.stdout, said(created)
    made = next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("Build ID:"))
    assert "[greenroom] Build succeeded." in said(built)
    assert "Done: 1 pages" in said(task_run) and "Page B" in said(task_run), said(task_run)
    assert json.loads(actor_call.stdout[actor_call.stdout.index("[{") :]) == [
        {"url": cli.site + "/", "title": "Home"}
    ]
    assert cli.get(f"/actor-builds/{made}")["status"] == "SUCCEEDED"
    builds = cli.get(f"/acts/{actor['id']}/builds", desc=1)["items"]
    assert made in {b["id"] for b in builds} and all(b["status"] == "SUCCEEDED" for b in builds)
    # The latest tag moved to the CLI's builds (whichever of the two finished last).
    assert cli.get(f"/acts/{actor['id']}")["taggedBuilds"]["latest"]["buildId"] != first_build
    task_runs = cli.get(f"/actor-tasks/{task.json()['data']['id']}/runs")
    assert task_runs["total"] == 1 and task_runs["items"][0]["status"] == "SUCCEEDED"

    # Started without waiting (one run to wait for, one to abort), while the workers are free: the
    # CLI reads the run again at once and exits 1 if it is still READY.
    started, to_abort = cli.many(
        ("actors", "start", "-i", cli.input(maxPages=2), "--json"),
        ("actors", "start", "-i", cli.input(waitSeconds=120), "--json"),
    )
    started_run = json_out(started)["run"]["id"]
    aborted_run = json_out(to_abort)["run"]["id"]
    waited, aborted = cli.many(
        ("runs", "wait", started_run, "--json", "--poll-interval", "1"),
        ("runs", "abort", aborted_run, "--force", "--json"),
    )
    assert json_out(waited)["run"]["status"] == "SUCCEEDED", said(waited)
    assert cli.get(f"/actor-runs/{started_run}")["statusMessage"] == "Crawled 2 pages"
    assert json_out(aborted)["status"] in ("ABORTING", "ABORTED"), said(aborted)
    run = cli.get(f"/actor-runs/{aborted_run}", waitForFinish=30)
    assert run["status"] == "ABORTED"

    (
        runs_ls,
        run_info,
        run_info_json,
        run_log,
        builds_ls,
        build_info,
        build_log,
        actors_ls,
        actors_mine,
        actor_info,
        actor_input,
        actor_readme,
    ) = cli.many(
        ("runs", "ls", ACTOR_NAME, "--desc"),
        ("runs", "info", started_run),
        ("runs", "info", aborted_run, "--json"),
        ("runs", "log", started_run),
        ("builds", "ls", ACTOR_NAME, "--json"),
        ("builds", "info", made),
        ("builds", "log", first_build),
        ("actors", "ls", "--json"),
        ("actors", "ls", "--my"),
        ("actors", "info", ACTOR_NAME),
        ("actors", "info", ACTOR_NAME, "--input"),
        ("actors", "info", ACTOR_NAME, "--readme"),
    )
    assert started_run in runs_ls.stdout and aborted_run in runs_ls.stdout and "Aborted" in runs_ls.stdout
    assert "Status: Succeeded (exit code: 0)" in run_info.stdout and "Crawled 2 pages" in run_info.stdout
    assert json_out(run_info_json)["status"] == "ABORTED"
    assert "Crawled " + cli.site + "/a - Page A" in said(run_log)
    listed_builds = {b["id"] for b in json_out(builds_ls)["items"]}
    assert listed_builds == {b["id"] for b in cli.get(f"/acts/{actor['id']}/builds")["items"]}
    assert {first_build, made} < listed_builds
    number = cli.get(f"/actor-builds/{made}")["buildNumber"]
    assert "Status: Succeeded" in build_info.stdout and f"Build Number: {number}" in build_info.stdout
    assert "[greenroom] Build succeeded." in said(build_log)
    assert actor["id"] in {a["id"] for a in json_out(actors_ls)["items"]}
    assert f"{cli.username}/{ACTOR_NAME}" in actors_mine.stdout and "undefined" not in actors_mine.stdout
    assert f"{cli.username}/{ACTOR_NAME}" in actor_info.stdout and "undefined" not in actor_info.stdout
    assert "Total runs: 4" in actor_info.stdout, actor_info.stdout  # started, aborted, task's, call's
    assert json.loads(actor_input.stdout) == INPUT_SCHEMA
    assert actor_readme.stdout.strip() == README.strip()
