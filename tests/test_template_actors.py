"""Actors laid out as Apify's templates (tests/template_actors/), built from their Dockerfiles and run
on a real Greenroom against a site this test serves on loopback; their datasets checked item for item.

ts-start: TypeScript with a multi-stage Dockerfile (a builder stage installs the dev dependencies and
runs tsc; the final stage installs the production ones and copies dist/ from the builder). Before
Greenroom ran Dockerfiles, its build SUCCEEDED and its runs failed with `Cannot find module
.../dist/main.js`.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from server.storage.db import SyncDatabase
from tests import services
from tests.sdk_support import actor_body, run_log, run_when_done, start_run
from tests.stack import Stack

TEMPLATES = Path(__file__).resolve().parent / "template_actors"
PAGE = b"""<!doctype html>
<html><head><title>Greenroom</title></head><body>
<h1>Greenroom</h1><p>Runs actors.</p>
<h2>Builds</h2><p>From Dockerfiles.</p>
<h3>Without Docker</h3>
</body></html>
"""

pytestmark = [
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="node and npm are not on PATH: the template actors need them",
    ),
    # Two npm installs (apify, typescript) from the registry: half a minute to a few minutes here.
    pytest.mark.timeout(900),
]


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """A page on this host's loopback (sandboxed actors reach loopback, except Redis and the database)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    finally:
        server.shutdown()
        server.server_close()


def _one_backend(db: SyncDatabase) -> None:
    if db.engine.dialect.name == "sqlite" and services.postgres_available():
        # The build is two npm installs from the registry; the HTTP API it exercises is the same on
        # both backends, which the rest of the suite checks.
        pytest.skip("the template actors run on PostgreSQL when it is there (SQLite otherwise)")


def test_the_typescript_template_builds_with_its_dockerfile_and_scrapes_a_page(
    api: httpx.Client, stack: Stack, db: SyncDatabase, site: str
) -> None:
    _one_backend(db)
    actor = api.post("/acts", json=actor_body(TEMPLATES / "ts-start", "ts-start"))
    assert actor.status_code == 201, actor.text
    actor_id = actor.json()["data"]["id"]
    build = {}
    for _ in range(14):  # up to 14 minutes
        build = api.get(f"/acts/{actor_id}/builds/default", params={"waitForFinish": 60}, timeout=90).json()
        if build["data"]["finishedAt"] is not None:
            break
    build = build["data"]
    log = api.get(f"/actor-builds/{build['id']}/log").text
    assert build["status"] == "SUCCEEDED", log
    # What ran: both stages' steps, tsc in the builder, the version notes, the start command.
    assert "FROM apify/actor-node:20: the image is not used; this worker's Node.js" in log
    assert "Dockerfile:10 RUN npm install --include=dev --audit=false" in log
    assert "$ npm run build" in log and "> tsc" in log
    assert "Dockerfile:34 COPY --from=builder --chown=myuser:myuser /usr/src/app/dist ./dist" in log
    assert "npm ls failed: the base image's preinstalled packages are not here; going on." in log
    assert "Runs start with `node dist/main.js`" in log

    run_id = start_run(api, {"id": actor_id}, {"url": site})
    run = run_when_done(api, run_id, timeout_s=120)
    assert run["status"] == "SUCCEEDED", run_log(api, run_id)
    items = api.get(f"/datasets/{run['defaultDatasetId']}/items").json()
    assert items == [
        {"level": "h1", "text": "Greenroom"},
        {"level": "h2", "text": "Builds"},
        {"level": "h3", "text": "Without Docker"},
    ]
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    # ENV (the Dockerfile's, and NODE_ENV of Apify's node image) reaches the run.
    assert output == {"count": 3, "greeting": "built by a Dockerfile", "nodeEnv": "production"}
