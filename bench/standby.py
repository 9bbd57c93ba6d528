"""Actor Standby: what going through the API costs a request, against the same standby run's server
asked directly (the baseline, in the same run), and how long a first request waits for a run.

    .venv/bin/python bench/standby.py [--requests 2000] [--concurrency 16] [--database-url ...]

It starts its own Greenroom (an API and one worker) on a private Redis, creates a standby actor (a
stdlib HTTP server answering each request with a few bytes), sends one request to start its run
(the cold start), then the same GETs with one asyncio client at a fixed concurrency, through
`/v2/actor-standby/...` and straight to the run's port. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

if __package__ in (None, ""):  # run as `python bench/standby.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, command_line, table_report
from bench.common import api_client, greenroom_settings, nearest_rank, setup, software, start_greenroom
from bench.versus import OUT_OF_THE_WAY
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.models import Run

SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Hello(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = b'hello'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(('', int(os.environ['ACTOR_WEB_SERVER_PORT'])), Hello).serve_forever()
"""


async def _measure(url: str, params: dict[str, str], requests: int, concurrency: int) -> tuple[float, float]:
    """(p50 ms, requests a second) of `requests` GETs of `url`, `concurrency` at a time."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker(count: int) -> None:
            for _ in range(count):
                start = time.perf_counter()
                answer = await client.get(url, params=params)
                answer.raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return nearest_rank(latencies, 50), len(latencies) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--redis-url")
    add_database_url(parser)
    args = parser.parse_args(argv)
    command = command_line("bench/standby.py", argv)
    with setup(args.redis_url, args.database_url) as bench:
        settings = greenroom_settings(bench, sandbox="auto", **OUT_OF_THE_WAY)
        start_greenroom(bench, settings, workers=1)
        standby = {"isEnabled": True, "desiredRequestsPerActorRun": 1000, "maxRequestsPerActorRun": 1000}
        source = [{"name": "main.py", "format": "TEXT", "content": SERVER}]
        version = {"versionNumber": "0.0", "sourceType": "SOURCE_FILES", "sourceFiles": source}
        with api_client(settings.api_base_url, bench.token, timeout=120) as client:
            actor = client.post(
                "/acts", json={"name": "hello", "versions": [version], "actorStandby": standby}
            )
            actor.raise_for_status()
            url = actor.json()["data"]["standbyUrl"]
            username = client.get("/users/me").json()["data"]["username"]
        token = {"token": bench.token}
        began = time.perf_counter()
        httpx.get(url, params=token, timeout=180).raise_for_status()
        cold_s = time.perf_counter() - began
        db = SyncDatabase(create_sync_engine(settings.sql_url))
        with db.begin() as connection:
            ready = select(Run.standby_url).where(Run.standby_url.is_not(None))
            direct = str(connection.execute(ready).scalar_one())
        db.engine.dispose()
        asyncio.run(_measure(url, token, 200, args.concurrency))  # warm
        asyncio.run(_measure(direct, {}, 200, args.concurrency))
        through = asyncio.run(_measure(url, token, args.requests, args.concurrency))
        straight = asyncio.run(_measure(direct, {}, args.requests, args.concurrency))
    header = [
        ("command", command),
        ("database", bench.database_description),
        ("software", software()),
        ("actor", f"{username}--hello, a stdlib ThreadingHTTPServer; {args.concurrency} requests at a time"),
        ("cold start", f"{cold_s:.2f} s from the first request to its answer (run started and made ready)"),
        ("load", f"1-min load average {os.getloadavg()[0]:.2f} at the end"),
    ]
    rows: list[tuple[str, ...]] = [
        ("p50 latency, ms", f"{straight[0]:.2f}", f"{through[0]:.2f}", f"{through[0] / straight[0]:.2f}"),
        ("requests a second", f"{straight[1]:.0f}", f"{through[1]:.0f}", f"{through[1] / straight[1]:.2f}"),
    ]
    print("\n".join(table_report(header, ("what", "direct (baseline)", "through the API", "ratio"), rows)))
    print(json.dumps({"through": through, "direct": straight, "cold_s": cold_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
