"""The official npm apify-client (tests/js, pinned in its package-lock.json), unmodified, against a
real Greenroom: tests/js/check.mjs drives the client and prints what it saw; this test asserts on it.

Node is optional (the Python client is the required check): without node and npm the test skips.
With them, a failing `npm ci` fails the test.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.npm import JS_DIR, NODE, NPM, npm_installed, run_js
from tests.stack import Stack

pytestmark = [
    pytest.mark.skipif(
        NODE is None or NPM is None,
        reason="node and npm are not on PATH: the JS apify-client check is optional and skipped",
    ),
    # The first test of a session may include `npm ci` (seconds from npm's cache, longer from the network).
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="session")
def js_client() -> Path:
    """tests/js/node_modules installed from the lockfile."""
    return npm_installed(JS_DIR)


@dataclass
class Checked:
    username: str
    seen: dict[str, Any]


@pytest.fixture(scope="module")
def checked(js_client: Path, stack: Stack, db: SyncDatabase) -> Checked:
    """check.mjs run once per backend, as a new user; the tests below assert on its observations."""
    assert NODE is not None
    user, token = create_user(db, f"js{uuid.uuid4().hex[:12]}")
    started = time.monotonic()
    seen = run_js("check.mjs", stack.url, token, timeout_s=100)
    elapsed = time.monotonic() - started
    print(f"check.mjs took {elapsed:.1f} s; ms per step: {seen['millis']}")
    return Checked(user.username, seen)


def test_js_client_runs(checked: Checked) -> None:
    seen = checked.seen
    assert seen["user"]["username"] == checked.username
    assert seen["createActors"]["byNameId"] == seen["createActors"]["id"]
    assert seen["createActors"]["missingIsUndefined"] is True  # it threw on 404 actor-not-found
    assert seen["createActors"]["versions"] == ["PYTHON_CALLABLE"]
    task_id = seen["createTask"]["id"]

    assert seen["taskCall"]["output"] == {"input": {"a": 1, "b": 2}}
    assert seen["taskCall"]["actorTaskId"] == task_id
    assert seen["taskCallNoInput"]["output"] == {"input": {"a": 1}}
    last = seen["taskLastRun"]
    assert last["id"] == last["succeededId"] == seen["taskCallNoInput"]["id"]
    assert last["output"] == {"input": {"a": 1}}

    called = seen["actorCall"]
    assert called["output"] == {"input": {"hello": "js"}}
    assert called["items"] == [{"seen": {"hello": "js"}}]
    assert any("echo got" in line for line in called["streamed"]), called["streamed"]

    started = seen["actorStartWait"]
    assert started["startedStatus"] in ("READY", "RUNNING")
    assert started["status"] == started["againStatus"] == "SUCCEEDED"
    assert started["exitCode"] == 0
    assert started["output"] == {"input": {"n": 3}}

    aborted = seen["abort"]
    assert aborted["abortStatus"] in ("ABORTING", "ABORTED")
    assert aborted["status"] == aborted["gracefulStatus"] == "ABORTED"

    log = seen["log"]
    assert "echo got" in log["text"] and log["sameViaLogs"] and log["missing"]

    runs = seen["runsList"]
    assert runs["total"] == runs["count"] == 6  # 2 task calls, call, start, 2 aborted
    assert runs["statuses"].count("ABORTED") == 2
    assert runs["page"] == {"desc": True, "limit": 2, "offset": 1, "count": 2}
    assert runs["pageIds"] == list(reversed(runs["allIds"]))[1:3]
    assert runs["actorTotal"] == 4 and runs["taskTotal"] == 2


def test_js_client_key_value_store(checked: Checked) -> None:
    kvs = checked.seen["keyValueStore"]
    json_value = {"a": 1, "list": [1, 2], "s": "žluť"}
    assert kvs["sameStore"] and kvs["bigEqual"]
    assert kvs["json"]["value"] == json_value
    assert kvs["json"]["contentType"].startswith("application/json")
    assert kvs["text"] == {"value": "hello", "contentType": "text/plain"}
    assert kvs["bin"] == {"hex": "000102ff", "contentType": "application/octet-stream"}
    assert kvs["keys"] == ["big", "bigText", "bin", "json", "text"]
    # Stored as sent: the client pretty-prints JSON, and brotli-compresses bodies of 1 KiB or more,
    # which a record keeps (as Apify's do) and serves with its Content-Encoding.
    assert kvs["sizes"]["json"] == len(json.dumps(json_value, indent=2, ensure_ascii=False).encode())
    assert 0 < kvs["sizes"]["big"] < 200 and 0 < kvs["sizes"]["bigText"] < 200
    assert kvs["first"] == {"keys": ["big", "bigText"], "isTruncated": True, "next": "bigText"}
    assert kvs["rest"] == ["bin", "json", "text"]
    assert kvs["exists"] == [True, False]
    assert kvs["missing"] and kvs["deleted"]


def test_js_client_dataset(checked: Checked) -> None:
    ds = checked.seen["dataset"]
    assert ds["total"] == ds["count"] == ds["itemCount"] == 10
    assert ds["ns"] == list(range(10))
    assert ds["page"] == {"ns": [2, 3, 4], "offset": 2, "limit": 3, "total": 10}
    assert ds["desc"] == {"ns": [9, 8], "desc": True}
    assert ds["asc"] == {"ns": [0, 1], "desc": False}
    assert ds["fields"] == [{"n": 0, "label": "item 0"}, {"n": 1, "label": "item 1"}]
    # CSV starts with a BOM unless bom=0, as on Apify.
    assert ds["csv"] == "\ufeffn,label\r\n0,item 0\r\n1,item 1\r\n2,item 2\r\n"
    assert ds["csvRows"] == 11
    assert ds["csvNoBom"] == "n\r\n0\r\n"


def test_js_client_public_urls(checked: Checked) -> None:
    """createItemsPublicUrl, createKeysPublicUrl and getRecordPublicUrl make signed URLs that open
    with no token; a tampered signature is refused."""
    seen = checked.seen["publicUrls"]
    assert seen["signed"] and seen["onBase"]
    assert seen["opened"]["items"] == {"status": 200, "body": [{"n": 1}]}
    keys = seen["opened"]["keys"]
    assert keys["status"] == 200 and [k["key"] for k in keys["body"]["data"]["items"]] == ["shared"]
    assert seen["opened"]["record"] == {"status": 200, "body": {"ok": True}}
    assert seen["refused"] == {"status": 403, "type": "insufficient-permissions"}


def test_js_client_reboots_and_metamorphs_a_run(checked: Checked) -> None:
    seen = checked.seen["rebootMetamorph"]
    assert seen["rebootStatus"] == "RUNNING" and seen["rebootCount"] == 1
    echo_id = checked.seen["createActors"]["id"]
    assert seen["metamorphs"] == [{"actorId": echo_id, "inputKey": "INPUT-METAMORPH-1"}]
    assert seen["status"] == "SUCCEEDED"
    assert seen["output"] == {"input": {"m": 1}}  # the callable echo read its input by the run's input key
    assert seen["refusedStatus"] == 400
