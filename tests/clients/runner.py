"""Runs the table's calls on a fresh world, once per backend and client flavour (py, async, js), and
keeps what each call gave: {key: {"ok": bool, "error": str}}. The rows' tests assert on it."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apify_client import ApifyClient, ApifyClientAsync
from apify_client._status_message_watcher import StatusMessageWatcherBase

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.clients.methods import TABLE
from tests.clients.rows import Absent, Row, amaterialize, materialize
from tests.clients.world import World, build_world
from tests.npm import run_js
from tests.stack import Stack

Outcomes = dict[str, dict[str, Any]]
# The key of the one outcome of a run that failed as a whole (building its world, or node).
FAILED = ""


def called(flavour: str) -> list[Row]:
    """The rows a flavour calls, in order: not the absent ones, and only its own client's."""
    side = "js" if flavour == "js" else "py"
    return [
        r
        for r in TABLE
        if not isinstance(r.status, Absent) and (r.js_body if side == "js" else r.call) is not None
    ]


def _judge(value: Any, expected: Any) -> dict[str, Any]:
    if value == expected:
        return {"ok": True, "error": ""}
    return {"ok": False, "error": f"got {value!r}, expected {expected!r}"}


def _failed(exc: BaseException) -> dict[str, Any]:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return {
        "ok": False,
        "error": f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
    }


def _python(stack: Stack, token: str, world: World) -> Outcomes:
    client = ApifyClient(token=token, api_url=stack.url, api_public_url=stack.url, max_retries=0)
    out: Outcomes = {}
    for r in called("py"):
        assert r.call is not None and r.expect is not None
        try:
            value = materialize(r.call(client, world), world.logged_since())
            out[r.key] = _judge(r.pick(value, world), r.expect(world))
        except Exception as exc:
            out[r.key] = _failed(exc)
    return out


async def _python_async(stack: Stack, token: str, world: World) -> Outcomes:
    client = ApifyClientAsync(token=token, api_url=stack.url, api_public_url=stack.url, max_retries=0)
    out: Outcomes = {}
    for r in called("async"):
        assert r.call is not None and r.expect is not None
        try:
            value = await asyncio.wait_for(amaterialize(r.call(client, world), world.logged_since()), 90)
            out[r.key] = _judge(r.pick(value, world), r.expect(world))
        except Exception as exc:
            out[r.key] = _failed(exc)
    return out


def _js(stack: Stack, token: str, world: World, node: str) -> Outcomes:
    rows = called("js")
    stdin = json.dumps({"world": world.ids(), "rows": [{"key": r.key, "body": r.js_body} for r in rows]})
    seen = run_js("table.mjs", stack.url, token, "run", stdin=stdin, timeout_s=600)
    out: Outcomes = {}
    for r in rows:
        assert r.expect is not None
        got = seen[r.key]
        expected = json.loads(json.dumps(r.expect(world)))
        out[r.key] = _judge(got["value"], expected) if got["ok"] else {"ok": False, "error": got["error"]}
    return out


def run_flavour(flavour: str, stack: Stack, db: SyncDatabase, node: str | None) -> Outcomes:
    """A new user's world, the flavour's calls in order, then the world's runs stopped."""
    user, token = create_user(db, f"t{flavour}{os.urandom(6).hex()}")
    with stack.client(token) as api:
        world = build_world(api, user.username, user.id)
        try:
            if flavour == "py":
                return _python(stack, token, world)
            if flavour == "async":
                return asyncio.run(_python_async(stack, token, world))
            assert node is not None
            return _js(stack, token, world, node)
        finally:
            world.stop_runs()


def shared(directory: Path, name: str, compute: Callable[[], Outcomes]) -> Outcomes:
    """`compute()`, once per pytest session across xdist workers: the first worker to get here runs
    it, the others wait and read what it wrote (each worker has its own Greenroom; the outcome of a
    call does not depend on which one)."""
    path = directory / f"{name}.json"
    with (directory / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return dict(json.loads(path.read_text()))
        with pytest.MonkeyPatch.context() as patch:
            # The watcher's 6 s wait for a last status message: the rows read the run afterwards.
            patch.setattr(StatusMessageWatcherBase, "_final_sleep_time_s", 0)
            try:
                outcomes = compute()
            except (Exception, pytest.fail.Exception) as exc:
                # Kept like any outcome: each row's test fails with it, without building another world.
                outcomes = {FAILED: {"ok": False, "error": f"the run of the table failed: {exc}"}}
        path.write_text(json.dumps(outcomes))
        return outcomes


class Flavours(dict[str, Outcomes]):
    """The outcomes of each flavour, computed when first asked for."""

    def __init__(self, compute: Callable[[str], Outcomes]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, flavour: str) -> Outcomes:
        self[flavour] = self._compute(flavour)
        return self[flavour]
