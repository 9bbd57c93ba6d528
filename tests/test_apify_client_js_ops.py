"""The npm apify-client (tests/js) on the run storages' writes, dataset statistics, a build's OpenAPI
definition, DELETE of a build and the monthly usage: tests/js/ops.mjs drives it, this test asserts."""

from __future__ import annotations

import uuid

import pytest

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.npm import NODE, NPM, run_js
from tests.stack import Stack

pytestmark = [
    pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not on PATH: optional check"),
    pytest.mark.timeout(300),
]


def test_js_client_ops(stack: Stack, db: SyncDatabase) -> None:
    assert NODE is not None
    user, token = create_user(db, f"js{uuid.uuid4().hex[:12]}")
    seen = run_js("ops.mjs", stack.url, token)

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
