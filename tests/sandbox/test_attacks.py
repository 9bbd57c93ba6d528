"""Attacks on the sandbox, by a hostile actor of one user (bob) while a run of another (alice) goes:
every way out the issue saw work, tried, and each must fail with alice's run, storages and build
untouched. Then the same hostile actor on a Greenroom with GREENROOM_SANDBOX=off, which must get out:
the control that shows the attacks are real."""

from __future__ import annotations

import hashlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from server.settings import Settings
from server.storage.db import SyncDatabase
from server.storage.models import ApiToken
from tests.actors import files_actor
from tests.conftest import Account, new_account
from tests.procs import running_with
from tests.sdk_support import run_when_done, start_run, wait_for_record
from tests.stack import Stack, running
from worker.sandbox.views import supported as views_supported

HERE = Path(__file__).resolve().parent
HOSTILE = (HERE / "hostile.py").read_text()
VICTIM = (HERE / "victim.py").read_text()
SECRET = "alice-" + uuid.uuid4().hex


def _record(api: httpx.Client, store: str, key: str) -> Any:
    response = api.get(f"/key-value-stores/{store}/records/{key}")
    assert response.status_code == 200, response.text
    return response.json()


def _host_pids_of_run(run_id: str) -> list[int]:
    """Host pids whose environment says they are (part of) the run: root reads every environ."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"ACTOR_RUN_ID={run_id}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _uid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError):
                pass
    return found


def _addresses(url: str) -> list[Any]:
    """Where a hostile actor would try a service: its unix socket path, or host and port."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return [parts.path]
    if parts.scheme == "sqlite":
        return []
    return [["127.0.0.1", parts.port or (6379 if parts.scheme.startswith("redis") else 5432)]]


def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _victim_build(settings: Settings) -> Path:
    for main in settings.builds_dir.glob("*/app/main.py"):
        if main.read_text() == VICTIM:
            return main.parent.parent
    raise AssertionError("the victim's build directory is not on this worker")


@contextmanager
def _attack(stack: Stack, alice: Account, bob: Account, *, kill_greenroom: bool) -> Iterator[dict[str, Any]]:
    """Alice's run going (with a secret env var), bob's hostile actor run meanwhile; yields what the
    attack saw and what the test needs to check after, then lets alice's run finish. The actor
    SIGKILLs alice's actor, and with `kill_greenroom` the workers and the API too (only where a
    sandbox keeps it from them: unsandboxed, it would)."""
    settings = stack.settings
    with stack.client(alice.token) as alice_api, stack.client(bob.token) as bob_api:
        victim_body = files_actor(
            "victim",
            {"main.py": VICTIM},
            envVars=[{"name": "ALICE_SECRET", "value": SECRET, "isSecret": True}],
        )
        victim = alice_api.post("/acts", json=victim_body).json()["data"]
        victim_run = start_run(alice_api, victim, {})
        run = alice_api.get(f"/actor-runs/{victim_run}").json()["data"]
        wait_for_record(alice_api, run["defaultKeyValueStoreId"], "STARTED", victim_run)
        build = _victim_build(settings)
        before = _tree_digest(build)
        victim_pids = _host_pids_of_run(victim_run)
        # Less bwrap's two processes (root's: the sandbox's uid cannot read or signal them).
        victim_uids = {_uid(pid) for pid in victim_pids} - {0}
        workers = [p for proc in stack.processes for p in _children(proc.pid)]
        # Files that are there on the host, for the actor to try: the admin's token, the SQLite
        # database, the victim's code.
        token_file = settings.data_dir / "admin-token"
        if not token_file.exists():
            token_file.write_text("the-admin-token\n")
            token_file.chmod(0o600)
        secrets = [token_file, build / "app" / "main.py"]
        if settings.sql_url.startswith("sqlite:///"):
            secrets.append(Path(settings.sql_url.removeprefix("sqlite:///")))
        assert all(path.is_file() for path in secrets)
        greenroom = sorted({*workers, *(proc.pid for proc in stack.processes)})
        attack_input = {
            "kill": sorted({*victim_pids, *(greenroom if kill_greenroom else [])}),
            "data_dir": str(settings.data_dir.resolve()),
            "files": [str(path.resolve()) for path in secrets],
            "victim_build": str(build),
            "victim_store": run["defaultKeyValueStoreId"],
            "secret_name": "ALICE_SECRET",
            "host_pids": sorted({*victim_pids, *greenroom}),
            "redis": _addresses(settings.redis_url),
            "database": _addresses(settings.sql_url),
        }
        hostile = bob_api.post("/acts", json=files_actor("hostile", {"main.py": HOSTILE})).json()["data"]
        hostile_run = start_run(bob_api, hostile, attack_input)
        done = run_when_done(bob_api, hostile_run)
        log = bob_api.get(f"/actor-runs/{hostile_run}/log").text
        assert done["status"] == "SUCCEEDED", log
        report = _record(bob_api, done["defaultKeyValueStoreId"], "OUTPUT")
        alice_api.put(
            f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/GO", json={"go": True}
        ).raise_for_status()
        alice_done = run_when_done(alice_api, victim_run)
        yield {
            "report": report,
            "input": attack_input,
            "hostile_run": hostile_run,
            "victim_done": alice_done,
            "victim_output": alice_api.get(
                f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT"
            ),
            "victim_uids": victim_uids,
            "build": build,
            "build_before": before,
        }


def test_a_hostile_actor_gets_nothing_of_another_users_run(
    stack: Stack, db: SyncDatabase, settings: Settings, tmp_path: Path
) -> None:
    if settings.sandbox == "off":
        pytest.skip("this machine cannot sandbox actors (not root, or no bubblewrap)")
    alice, bob = new_account(settings), new_account(settings)
    admin_token = settings.data_dir / "admin-token"
    with db.begin() as connection:
        tokens_before = connection.execute(select(func.count()).select_from(ApiToken)).scalar_one()
    with _attack(stack, alice, bob, kill_greenroom=True) as seen:
        report = seen["report"]
        own = Path(report["cwd"])
        # Its own identity: a sandbox uid, nothing shared with alice's actor, no privileges.
        assert report["uid"] == report["gid"] and report["uid"] in settings.sandbox_uids
        assert len(seen["victim_uids"]) == 1 and seen["victim_uids"] <= set(settings.sandbox_uids)
        assert report["uid"] not in seen["victim_uids"]
        assert report["groups"] == [report["uid"]] or report["groups"] == []
        assert int(report["cap_eff"], 16) == 0 and int(report["cap_bnd"], 16) == 0
        assert report["no_new_privs"] == "1"
        assert report["setuid0"].startswith("error: PermissionError")
        assert report["mount"].startswith("error:")
        for path, result in report["umount"].items():
            assert result.startswith("error:"), (path, result)
        assert report["fds"]["0"] == "ok: /dev/null"
        if views_supported(tmp_path):  # its sandbox was made before its run, its build shown after
            builds = str(settings.builds_dir)
            mounts = [line.split() for line in report["mountinfo"].splitlines()]
            assert [m[-2] for m in mounts if m[4] == builds] == ["greenroom-view"], report["mountinfo"]
            assert [m[5].split(",")[0] for m in mounts if m[4] == str(own.parent)] == ["ro"]
        for fd, target in report["fds"].items():
            assert fd in ("1", "2") or not target.startswith("ok: pipe:"), (fd, target)
        # Its own view: its own processes only, no other environment, no data dir, no other build.
        assert len(report["visible_pids"]) < 10, report["visible_pids"]
        assert not set(report["visible_pids"]) & set(seen["input"]["host_pids"]) - {1, 2, 3, 4, 5, 6, 7, 8, 9}
        assert report["environ_leaks"] == {}
        for path, result in report["read"].items():
            assert result.startswith("error:"), (path, result)
        # A directory it lists shows at most the way to its own build (bwrap's mount points).
        for path, result in report["list"].items():
            way = [p.name for p in (own, *own.parents) if p.parent == Path(os.path.normpath(path))]
            assert result.startswith("error:") or result == f"ok: {way}", (path, result)
        assert report["write"]["victim_build"].startswith("error:")
        assert report["write"]["own_build"].startswith("error:")  # root's files, on a read-only mount
        assert report["write"]["home"] == report["write"]["tmp"] == "ok"
        # Its own reach: no Redis, no database.
        for address, result in {**report["redis"], **report["database"]}.items():
            assert result.startswith("error:"), (address, result)
        # Nothing it can signal but itself; its cgroup is its own and cannot be left.
        for pid, result in report["kill"].items():
            assert result.startswith("error: ProcessLookupError") or result.startswith(
                "error: PermissionError"
            ), (
                pid,
                result,
            )
        assert all(line.endswith(":/") for line in report["cgroup"].splitlines()), report["cgroup"]
        for path, result in report["cgroup_escape"].items():
            assert result.startswith("error:"), (path, result)
        assert report["victim_record"] == 404
        # Alice's run went on untouched: her secret, her files, her build.
        assert seen["victim_done"]["status"] == "SUCCEEDED"
        output = seen["victim_output"].json()
        assert output["secret"] == SECRET and output["went"] is True
        assert output["main_sha256"] == hashlib.sha256(VICTIM.encode()).hexdigest()
        assert _tree_digest(seen["build"]) == seen["build_before"]
        # Nothing of bob's run outlives it (its daemon included).
        deadline = time.monotonic() + 3
        while (left := running_with(seen["hostile_run"])) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == []
    # No build stays mounted in a premade sandbox's view (worker/sandbox/views.py) once its run is over.
    _no_build_in_a_view(settings)
    # No token was made, and the admin's is as it was.
    with db.begin() as connection:
        stmt = select(func.count()).select_from(ApiToken).where(ApiToken.run_id.is_(None))
        assert connection.execute(stmt).scalar_one() <= tokens_before
    assert not admin_token.exists() or admin_token.stat().st_mode & 0o077 == 0


def _mounts_under(directory: Path) -> list[str]:
    points = (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return [point for point in points if point.startswith(f"{directory}/")]


def _no_build_in_a_view(settings: Settings) -> None:
    """Every view left is a standby's, waiting and empty: no mount under it."""
    deadline = time.monotonic() + 10
    while (builds := [p for p in _mounts_under(settings.sandboxes_dir) if not p.endswith(".view")]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert builds == []


def test_without_the_sandbox_the_same_actor_gets_out(isolated_settings: Settings, tmp_path: Path) -> None:
    """The control: GREENROOM_SANDBOX=off, and the attacks that the test above sees fail succeed."""
    own = isolated_settings.with_(sandbox="off", data_dir=tmp_path / "data")
    (own.data_dir).mkdir()
    (own.data_dir / "admin-token").write_text("the-admin-token\n")
    alice, bob = new_account(own), new_account(own)
    with running(own, workers=2) as stack, _attack(stack, alice, bob, kill_greenroom=False) as seen:
        report = seen["report"]
        assert report["uid"] == os.getuid()  # the worker's user (root here: all of the machine)
        assert report["read"][str(own.data_dir.resolve() / "admin-token")] == "ok: b'the-admin-token\\n'"
        assert report["environ_leaks"], "the unsandboxed actor saw no other process's environment"
        assert report["write"]["victim_build"] == "ok"
        assert seen["victim_done"]["status"] == "FAILED"  # bob SIGKILLed alice's actor
