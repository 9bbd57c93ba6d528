"""Actors shaped as Apify's python-standby and ts-standby templates (tests/template_actors/: their
layout, `.actor/actor.json` with `usesStandbyMode`, Dockerfiles on Apify's base images, the real
SDKs; the code our own), built and served unchanged through Greenroom's Standby: the Python one
listens on the SDK's web server port, the TypeScript one on the JS SDK's `standbyPort`.

Each build installs the SDK from the registries (15-60 s), so each template is one test, on one
backend (the builds and runs see only the HTTP API, which the other standby tests check on both)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from server.storage.db import SyncDatabase
from tests import services
from tests.conftest import Account
from tests.npm import NODE, NPM
from tests.sdk_support import actor_body, build_once
from tests.stack import Stack

TEMPLATES = Path(__file__).resolve().parent.parent / "template_actors"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def backend(db: SyncDatabase) -> None:
    if db.engine.dialect.name == "sqlite" and services.postgres_available():
        pytest.skip("the template tests run on PostgreSQL when it is there (SQLite otherwise)")


def _served(stack: Stack, owner: Account, template: str, greeting: str) -> None:
    build, log = build_once(stack, owner, actor_body(TEMPLATES / template, template), limit_s=420)
    assert build["status"] == "SUCCEEDED", log
    with stack.client(owner.token, timeout=30) as api:
        actor = api.get(f"/acts/{build['actId']}").json()["data"]
        url = f"{stack.url}/v2/actor-standby/{owner.username}--{actor['name']}"
        with httpx.Client(timeout=180) as caller:
            answer = caller.get(f"{url}/hello/there", params={"token": owner.token})
        assert answer.status_code == 200, answer.text
        assert answer.text == f"{greeting} /hello/there\n"
        (run,) = api.get(f"/acts/{actor['id']}/runs").json()["data"]["items"]
        assert run["status"] == "RUNNING"
        assert run["meta"]["origin"] == "STANDBY"
        api.post(f"/actor-runs/{run['id']}/abort")


def test_the_python_standby_template_is_served(stack: Stack, account: Account, backend: None) -> None:
    _served(stack, account, "python-standby", "Python standby greets")


@pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not on PATH")
def test_the_ts_standby_template_is_served(stack: Stack, account: Account, backend: None) -> None:
    _served(stack, account, "ts-standby", "TypeScript standby greets")
