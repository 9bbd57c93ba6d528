"""The actor tests/test_apify_cli.py pushes with the CLI: laid out as Apify's `python-start` template
(`.actor/` with actor.json, input_schema.json and Dockerfile, requirements.txt, README.md, `src/`
run as `python3 -m src`), its code our own and the standard library only, so a build is a venv and no
download. It crawls a small site the test serves on loopback: one dataset item per page, OUTPUT a
summary, a status message per page; `waitSeconds` keeps it running (for abort and wait).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTOR_NAME = "cli-actor"

ACTOR_JSON = {
    "actorSpecification": 1,
    "name": ACTOR_NAME,
    "title": "Greenroom CLI check",
    "description": "Crawls a site on loopback: one item per page, OUTPUT a summary.",
    "version": "0.0",
    "buildTag": "latest",
    "input": "./input_schema.json",
    "dockerfile": "./Dockerfile",
}

INPUT_SCHEMA = {
    "title": "Crawl a site",
    "type": "object",
    "schemaVersion": 1,
    "properties": {
        "startUrl": {
            "title": "Start URL",
            "type": "string",
            "description": "The first page; links on the same host are followed.",
            "editor": "textfield",
        },
        "maxPages": {
            "title": "Max pages",
            "type": "integer",
            "description": "Stop after this many pages.",
            "default": 10,
        },
        "waitSeconds": {
            "title": "Wait",
            "type": "integer",
            "description": "Seconds to wait before crawling.",
            "default": 0,
        },
    },
    "required": ["startUrl"],
}

DOCKERFILE = """\
FROM apify/actor-python:3.12
USER myuser
COPY --chown=myuser:myuser requirements.txt ./
RUN pip install -r requirements.txt
COPY --chown=myuser:myuser . ./
CMD ["python3", "-m", "src"]
"""

REQUIREMENTS = "# The standard library is enough: no packages.\n"

DUNDER_MAIN = """\
from .main import main

main()
"""

MAIN = '''\
"""Crawl from INPUT's startUrl (same host only), one dataset item per page; OUTPUT sums it up."""

import json
import os
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser

# Greenroom and the site are both on loopback: never through a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
API = os.environ["APIFY_API_BASE_URL"].rstrip("/") + "/v2"
HEADERS = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}


def api(method, path, body=None):
    data, headers = None, dict(HEADERS)
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(API + path, data, headers, method=method)
    with OPENER.open(request) as response:
        return response.read()


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.title, self.links, self._in_title = "", [], False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag == "a" and dict(attrs).get("href"):
            self.links.append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def main():
    store = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
    dataset = os.environ["ACTOR_DEFAULT_DATASET_ID"]
    run = os.environ["ACTOR_RUN_ID"]
    given = json.loads(api("GET", f"/key-value-stores/{store}/records/INPUT") or b"{}")
    print("Input:", json.dumps(given, sort_keys=True), flush=True)
    time.sleep(given.get("waitSeconds", 0))
    queue, seen, titles = [given["startUrl"]], set(), []
    host = urllib.parse.urlsplit(given["startUrl"]).netloc
    while queue and len(titles) < given.get("maxPages", 10):
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        with OPENER.open(url) as response:
            page = Page()
            page.feed(response.read().decode())
        titles.append(page.title)
        api("POST", f"/datasets/{dataset}/items", {"url": url, "title": page.title})
        api("PUT", f"/actor-runs/{run}", {"statusMessage": f"Crawled {len(titles)} pages"})
        print("Crawled", url, "-", page.title, flush=True)
        for href in page.links:
            link = urllib.parse.urljoin(url, href)
            if urllib.parse.urlsplit(link).netloc == host:
                queue.append(link)
    api("PUT", f"/key-value-stores/{store}/records/OUTPUT", {"pages": len(titles), "titles": titles})
    print("Done:", len(titles), "pages", flush=True)
'''

README = """\
# Greenroom CLI check

Crawls the pages linked from `startUrl` on the same host: one dataset item per page (its URL and
title), and OUTPUT with the number of pages and their titles.
"""

ACTOR_FILES = {
    "README.md": README,
    ".actor/actor.json": json.dumps(ACTOR_JSON, indent=4),
    ".actor/input_schema.json": json.dumps(INPUT_SCHEMA, indent=4),
    ".actor/Dockerfile": DOCKERFILE,
    "requirements.txt": REQUIREMENTS,
    "src/__main__.py": DUNDER_MAIN,
    "src/main.py": MAIN,
}

# The site: three pages linked from the first, one of them twice (and one not linked).
PAGES = {
    "/": '<html><head><title>Home</title></head><body><a href="/a">A</a> <a href="/b">B</a></body></html>',
    "/a": '<html><head><title>Page A</title></head><body><a href="/b">B</a></body></html>',
    "/b": '<html><head><title>Page B</title></head><body><a href="/">Home</a></body></html>',
    # Not linked (a crawl from / never finds it): headings for tests/template_actors/ts-start.
    "/headings": (
        "<!doctype html><html><head><title>Greenroom</title></head><body><h1>Greenroom</h1>"
        "<p>Runs actors.</p><h2>Builds</h2><p>From Dockerfiles.</p><h3>Without Docker</h3></body></html>"
    ),
}


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        data = (body or "not found").encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_site(tls: bool = False) -> Iterator[str]:
    """The site on a loopback port: its base URL. With `tls`, over HTTPS with a self-signed
    certificate (crawlers that do not check certificates, as Scrapy by default, reach it through a
    proxy's CONNECT tunnel)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    if tls:
        with tempfile.TemporaryDirectory() as folder:
            key, cert = f"{folder}/key.pem", f"{folder}/cert.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                check=True, capture_output=True,
            )  # fmt: skip
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
