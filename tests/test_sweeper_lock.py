"""The sweeper lock (server/sweeper/lock.py) on real Redis: one holder at a time, renewed by its
holder only, taken over once it lapses, lost by a holder that finds another's value, released at a
clean stop."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from server.sweeper.lock import SweepLock


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    with Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def key(redis: Redis) -> Iterator[str]:
    name = f"gr-lock-test-{uuid.uuid4().hex[:8]}:sweeper"
    yield name
    redis.delete(name)


def test_one_holder_at_a_time_and_a_release_hands_it_over(redis: Redis, key: str) -> None:
    first, second = SweepLock(redis, key, 5.0), SweepLock(redis, key, 5.0)
    assert first.hold() and not second.hold()
    assert first.hold()  # renewed
    assert redis.get(key) == first.token.encode()
    first.release()
    assert second.hold() and not first.hold()


def test_a_holder_that_stops_renewing_is_replaced_one_lease_later(redis: Redis, key: str) -> None:
    dead, standby = SweepLock(redis, key, 0.3), SweepLock(redis, key, 0.3)
    assert dead.hold()
    assert not standby.hold()
    time.sleep(0.4)
    assert standby.hold()
    # The old holder, back, finds another's value: it does not sweep, and does not take it back.
    assert not dead.hold() and not dead.held
    assert redis.get(key) == standby.token.encode()


def test_a_release_never_drops_another_holders_lock(redis: Redis, key: str) -> None:
    old, new = SweepLock(redis, key, 0.2), SweepLock(redis, key, 5.0)
    assert old.hold()
    time.sleep(0.3)
    assert new.hold()
    old.release()  # it still believes it holds the lock
    assert redis.get(key) == new.token.encode()


def test_the_value_names_the_holding_process(redis: Redis, key: str) -> None:
    lock = SweepLock(redis, key, 5.0)
    assert lock.hold()
    host, pid, _ = redis.get(key).decode().split(":")  # type: ignore[union-attr]
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
