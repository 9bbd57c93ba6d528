"""The worker's side of a standby run's server: whose its port is, and when it counts as ready. An
actor that listens on a standby run's port before the run does (ports are not reserved while a run
starts) must not receive that run's requests: a listener of another uid is never ready."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis.asyncio as aioredis
from redis import Redis

from server.settings import Settings
from server.standby import activity
from server.storage.db import SyncDatabase
from worker.standby_server import (
    PROBE_HEADER,
    Readiness,
    answers_probe,
    listener_uids,
    standby_port,
    worker_host,
)


class _Probed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if PROBE_HEADER in self.headers else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(settings: Settings) -> Iterator[int]:
    port = standby_port(settings)
    httpd = ThreadingHTTPServer(("", port), _Probed)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield port
    httpd.shutdown()
    httpd.server_close()


def test_a_standby_port_is_in_the_range_and_free(settings: Settings) -> None:
    port = standby_port(settings)
    assert port in settings.standby_ports
    assert listener_uids(port) == set()


def test_the_listener_of_a_port_is_known_by_its_uid(server: int) -> None:
    assert listener_uids(server) == {os.getuid()}
    assert answers_probe(server)


def test_a_server_of_another_uid_is_never_ready(
    server: int, settings: Settings, db: SyncDatabase, redis_url: str
) -> None:
    client = Redis.from_url(redis_url)
    readiness = Readiness(db, client, settings, "no-such-run", server, uid=os.getuid() + 1)
    readiness.start()
    time.sleep(1.0)  # five probes, each answered
    readiness.stop()
    client.close()
    assert not readiness.ready.is_set()


def test_the_worker_host_auto_is_the_address_its_host_name_resolves_to(settings: Settings) -> None:
    assert worker_host(settings) == "127.0.0.1"
    assert worker_host(settings.with_(standby_worker_host="auto")) == socket.gethostbyname(
        socket.gethostname()
    )


def test_requests_that_all_saw_room_do_not_all_take_the_last_places(redis_url: str) -> None:
    """maxRequestsPerActorRun holds under a race: ten requests that each read the run's count as 0
    enter it at once, and only `most` get in. Before, the count was read, then the request added: two
    requests took a run of maxRequestsPerActorRun 1 together, and no second run was started
    (tests/standby/test_standby.py's scaling test, now and then)."""
    prefix = f"gr-test-enter-{uuid.uuid4().hex[:8]}"

    async def race() -> list[bool]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return list(
                await asyncio.gather(
                    *(activity.enter(client, prefix, "run", f"r{i}", 60, 3) for i in range(10))
                )
            )
        finally:
            await client.aclose()

    try:
        assert sum(asyncio.run(race())) == 3
    finally:
        Redis.from_url(redis_url).delete(f"{prefix}:standby:run:inflight")
