"""The npm apify-client (tests/js) on the run storages' writes, dataset statistics, a build's OpenAPI
definition, DELETE of a build and the monthly usage: tests/js/ops.mjs drives it, this test asserts."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.npm import NODE, NPM, npm_installed
from tests.stack import Stack
from tests.test_apify_client_js import JS_DIR

pytestmark = [
    pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not on PATH: optional check"),
    pytest.mark.timeout(300),
]


def test_js_client_ops(stack: Stack, db: SyncDatabase) -> None:
    assert NODE is not None
    directory = npm_installed(JS_DIR)
    user, token = create_user(db, f"js{uuid.uuid4().hex[:12]}")
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    env = {**os.environ, "GREENROOM_URL": stack.url, "GREENROOM_TOKEN": token, "NO_PROXY": no_proxy}
    env["no_proxy"] = no_proxy
    done = subprocess.run(
        [NODE, "ops.mjs"], cwd=directory, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.fail(f"ops.mjs failed:\n{done.stderr}\n{done.stdout}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["statistics"] == {
        "fieldStatistics": {"seen": {"nullCount": 0, "emptyCount": 0, "min": 1, "max": 1}}
    }
    assert seen["renamed"] == {"dataset": "js-ops-ds", "store": "js-ops-kv"}
    slug = f"{user.username}~js-ops"
    assert seen["openApi"]["paths"] == sorted(
        f"/acts/{slug}/{tail}" for tail in ("run-sync-get-dataset-items", "runs", "run-sync")
    )
    assert seen["buildDelete"] == {"newerStatus": "SUCCEEDED", "oldGone": True, "newerThere": True}
    assert seen["usage"]["startIsDate"] and seen["usage"]["dayIsDate"] and seen["usage"]["computeUnits"] > 0
    assert seen["deleted"] == {"dataset": True, "store": True}
