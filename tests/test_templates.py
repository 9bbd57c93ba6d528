"""Actors shaped as Apify's templates (tests/template_actors/: their layout, `.actor/actor.json` with
`inputSchema` and `dockerfile`, their Dockerfiles on Apify's base images, their libraries; the code
our own), built and run unchanged on a real Greenroom against a site the test serves on loopback,
the dataset checked item for item. Their input schemas fill in defaults and refuse bad input; the
crawlers that use Apify Proxy go through Greenroom's. ts-start is TypeScript with a multi-stage
Dockerfile (a builder stage installs the dev dependencies and runs tsc; the final stage installs the
production ones and copies dist/ from the builder): before Greenroom ran Dockerfiles, its build
SUCCEEDED and its runs failed with `Cannot find module .../dist/main.js`.

Each build installs real packages from the registries (Crawlee, Scrapy, the SDKs: 15-60 s each), so
each template is one test, on one backend: the builds and runs see only the HTTP API, which the
contract tests check on both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.storage.db import SyncDatabase
from tests import services
from tests.cli_actor import serve_site
from tests.conftest import Account
from tests.npm import NODE, NPM
from tests.sdk_support import actor_body, build_once, run_log
from tests.stack import Stack

TEMPLATES = Path(__file__).resolve().parent / "template_actors"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def backend(db: SyncDatabase) -> None:
    if db.engine.dialect.name == "sqlite" and services.postgres_available():
        pytest.skip("the template tests run on PostgreSQL when it is there (SQLite otherwise)")


@pytest.fixture
def site() -> Iterator[str]:
    with serve_site() as url:
        yield url


@pytest.fixture
def tls_site() -> Iterator[str]:
    with serve_site(tls=True) as url:
        yield url


def _pages(site: str) -> list[dict[str, str]]:
    """What a crawl of tests/cli_actor.py's site from its home page finds: every page once."""
    titles = {"/": "Home", "/a": "Page A", "/b": "Page B"}
    return [{"url": site + path, "title": title} for path, title in titles.items()]


@contextmanager
def _built(stack: Stack, owner: Account, template: str) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """The template's actor, created as `owner` and built: (a client of the owner, the actor)."""
    build, log = build_once(stack, owner, actor_body(TEMPLATES / template, template), limit_s=420)
    assert build["status"] == "SUCCEEDED", log
    with stack.client(owner.token, timeout=30) as api:
        yield api, api.get(f"/acts/{build['actId']}").json()["data"]


def _run(api: httpx.Client, actor: dict[str, Any], run_input: dict[str, Any]) -> dict[str, Any]:
    started = api.post(f"/acts/{actor['id']}/runs", json=run_input, params={"waitForFinish": 60}, timeout=90)
    assert started.status_code == 201, started.text
    run = started.json()["data"]
    deadline = time.monotonic() + 180
    while run["finishedAt"] is None and time.monotonic() < deadline:
        run = api.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 30}, timeout=60).json()["data"]
    assert run["status"] == "SUCCEEDED", run_log(api, run["id"])
    return dict(run)


def _items(api: httpx.Client, run: dict[str, Any]) -> list[dict[str, Any]]:
    items = api.get(f"/datasets/{run['defaultDatasetId']}/items", params={"clean": 1}).json()
    return sorted(items, key=lambda item: str(item.get("url")))


def _input(api: httpx.Client, run: dict[str, Any]) -> Any:
    return api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/INPUT").json()


def test_the_python_crawlee_template_crawls_fills_defaults_and_refuses_bad_input(
    stack: Stack, account: Account, backend: None, site: str
) -> None:
    with _built(stack, account, "python-crawlee-beautifulsoup") as (api, actor):
        # Without its required start_urls (python-crawlee-beautifulsoup's schema): refused, nothing run.
        missing = api.post(f"/acts/{actor['id']}/runs", json={})
        assert missing.status_code == 400, missing.text
        assert missing.json()["error"]["type"] == "invalid-input"
        assert "start_urls" in missing.json()["error"]["message"]
        bad = api.post(
            f"/acts/{actor['id']}/runs", json={"start_urls": [{"url": site + "/"}], "max_requests": 0}
        )
        assert bad.status_code == 400 and "max_requests" in bad.json()["error"]["message"], bad.text
        assert api.get(f"/acts/{actor['id']}/runs").json()["data"]["total"] == 0

        run = _run(api, actor, {"start_urls": [{"url": site + "/"}]})
        assert _items(api, run) == _pages(site)
        assert _input(api, run) == {"start_urls": [{"url": site + "/"}], "max_requests": 10}


def test_the_scrapy_template_crawls_through_apify_proxy_by_default(
    stack: Stack, account: Account, backend: None, tls_site: str
) -> None:
    site = tls_site
    with _built(stack, account, "python-scrapy") as (api, actor):
        # The schema's defaults: allowedDomains, and proxyConfiguration {"useApifyProxy": true}, which
        # the SDK's Scrapy integration turns into Greenroom's proxy for every request. Over HTTPS:
        # for an http:// page the SDK hands Scrapy the proxy URL with its password, which Scrapy
        # then takes for the host name (apify 4.1, Scrapy 2.19; the same on Apify), so the site is
        # reached as most sites are, through a CONNECT tunnel.
        run = _run(api, actor, {"startUrls": [{"url": site + "/"}]})
        assert _items(api, run) == _pages(site), run_log(api, run["id"])
        assert _input(api, run) == {
            "startUrls": [{"url": site + "/"}],
            "allowedDomains": ["127.0.0.1"],
            "proxyConfiguration": {"useApifyProxy": True},
        }


@pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not on PATH")
def test_the_js_crawlee_cheerio_template_crawls_through_apify_proxy(
    stack: Stack, account: Account, backend: None, site: str
) -> None:
    with _built(stack, account, "js-crawlee-cheerio") as (api, actor):
        run = _run(api, actor, {"startUrls": [{"url": site + "/"}]})
        assert _items(api, run) == _pages(site), run_log(api, run["id"])
        assert _input(api, run) == {"startUrls": [{"url": site + "/"}], "maxRequestsPerCrawl": 100}


@pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not on PATH")
def test_the_typescript_template_builds_with_its_dockerfile_and_scrapes_a_page(
    stack: Stack, account: Account, backend: None, site: str
) -> None:
    with _built(stack, account, "ts-start") as (api, actor):
        build = api.get(f"/acts/{actor['id']}/builds/default").json()["data"]
        log = api.get(f"/actor-builds/{build['id']}/log").text
        # What ran: both stages' steps, tsc in the builder, the version notes, the start command.
        assert "FROM apify/actor-node:20: the image is not used; this worker's Node.js" in log
        assert "Dockerfile:10 RUN npm install --include=dev --audit=false" in log
        assert "$ npm run build" in log and "> tsc" in log
        assert "Dockerfile:34 COPY --from=builder --chown=myuser:myuser /usr/src/app/dist ./dist" in log
        assert "npm ls failed: the base image's preinstalled packages are not here; going on." in log
        assert "Runs start with `node dist/main.js`" in log

        run = _run(api, actor, {"url": site + "/headings"})
        assert api.get(f"/datasets/{run['defaultDatasetId']}/items").json() == [
            {"level": "h1", "text": "Greenroom"},
            {"level": "h2", "text": "Builds"},
            {"level": "h3", "text": "Without Docker"},
        ]
        output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
        # ENV (the Dockerfile's, and NODE_ENV of Apify's node image) reaches the run.
        assert output == {"count": 3, "greeting": "built by a Dockerfile", "nodeEnv": "production"}
