"""Which real services the suite runs on: the local Redis and PostgreSQL when reachable, else embedded.

In CI (CI=true) both must be reachable: a missing service fails the run instead of being skipped.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql

REDIS_URL = os.environ.get("GREENROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
POSTGRES_ADMIN_URL = os.environ.get(
    "GREENROOM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped afterwards."""
    name = f"greenroom_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def redis_url(tmp: Path) -> Iterator[str]:
    """The local Redis (a dedicated db index) or a private embedded redis-server.

    Not flushed: each session's queue and channel names carry a unique prefix, so concurrent
    sessions (a developer's and CI's) cannot eat each other's jobs.
    """
    parts = urlsplit(REDIS_URL)
    if reachable(parts.hostname or "127.0.0.1", parts.port or 6379):
        yield REDIS_URL
        return
    if IN_CI:
        raise RuntimeError(f"CI must run on the local Redis at {REDIS_URL}, and it is not reachable")
    from server.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis(tmp)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def kill_listeners(redis_url: str, prefix: str) -> int:
    """Drop the pub/sub connections of one deployment's listeners (named `<prefix>:...`), as a
    Redis restart would, leaving other test processes' alone. How many it dropped."""
    client = redis.Redis.from_url(redis_url)
    try:
        ids = [
            c["id"] for c in client.client_list(_type="pubsub") if c.get("name", "").startswith(f"{prefix}:")
        ]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()
