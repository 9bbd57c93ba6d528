"""The worker's abort listener (worker/abort.py): one subscription per process, and a run's watch that
skips its SQL read only when nothing can have been missed.

The listener here is the test's own, on the session's Redis and database; the run is a real one
(ended, and set ABORTING by the test as the API would).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import pytest
import redis
from sqlalchemy import update

from server.events import publish_abort, publish_reboot
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.ids import utcnow
from server.storage.runs import RUNS
from tests.actors import callable_actor
from worker.abort import AbortListener, AbortWatch, abort_listener
from worker.reboots import RebootSignal, pending


@pytest.fixture
def run_id(api: httpx.Client) -> str:
    """A run that ended, so that no worker watches it (theirs would end it ABORTED before the test's
    watch reads it): the test sets it ABORTING as the API would."""
    actor = api.post("/acts", json=callable_actor(f"quick-{uuid.uuid4().hex[:6]}", "noop")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    return str(run["id"])


@pytest.fixture
def listener(settings: Settings) -> AbortListener:
    listening = abort_listener(settings.redis_url, settings.redis_prefix)
    _until(lambda: listening.mark() is not None, "the listener to subscribe")
    return listening


def _until(condition: object, what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _aborting(db: SyncDatabase, run_id: str) -> None:
    """As the API commits an abort (its message is the test's to send, or not); a lease far ahead,
    so that the sweeper leaves it alone."""
    values = {"status": RunStatus.ABORTING.value, "lease_expires_at": utcnow() + timedelta(hours=1)}
    with db.begin() as connection:
        connection.execute(update(RUNS).where(RUNS.c.id == run_id).values(**values))


def test_an_abort_heard_between_the_claim_and_the_watch_fires_the_watch(
    listener: AbortListener, run_id: str, db: SyncDatabase, settings: Settings
) -> None:
    """The message came after the mark (the claim) and before the watch started: the listener
    remembered it for the watch, which then reads SQL."""
    mark = listener.mark()
    _aborting(db, run_id)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        publish_abort(client, settings.redis_prefix, run_id)
    finally:
        client.close()
    time.sleep(0.5)  # heard before the watch starts (on a slow machine, heard after: it fires either way)
    watch = AbortWatch(settings.redis_url, settings.redis_prefix, db, run_id)
    try:
        watch.start(mark)
        _until(lambda: pending(watch.fileno()), "the abort to fire", 5)
    finally:
        watch.close()


def test_a_watch_reads_sql_when_the_subscription_was_lost_since_the_mark(
    listener: AbortListener, run_id: str, db: SyncDatabase, settings: Settings
) -> None:
    """The listener's connection dropped after the mark: a message may be lost, so the watch reads
    SQL, and finds the abort that was committed meanwhile (whose message went nowhere). (The
    workers' listeners are dropped too, and subscribe again.)"""
    mark = listener.mark()
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for entry in client.client_list(_type="pubsub"):
            if entry["name"] == f"{settings.redis_prefix}:abort":
                client.client_kill_filter(_id=entry["id"])
    finally:
        client.close()
    _aborting(db, run_id)
    _until(lambda: listener.mark() not in (None, mark), "the listener to subscribe again")
    watch = AbortWatch(settings.redis_url, settings.redis_prefix, db, run_id)
    try:
        watch.start(mark)
        assert pending(watch.fileno())
    finally:
        watch.close()


def test_caught_up_has_heard_a_reboot_published_before_it(
    listener: AbortListener, run_id: str, db: SyncDatabase, settings: Settings
) -> None:
    """The job's check after an attempt: a reboot committed and published before caught_up() has
    reached the watch by the time it answers, with no read of the job's own."""
    reboots = RebootSignal(0)
    watch = AbortWatch(settings.redis_url, settings.redis_prefix, db, run_id, reboots)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        watch.start(listener.mark())
        with db.begin() as connection:  # as the API commits a reboot, then publishes it
            connection.execute(update(RUNS).where(RUNS.c.id == run_id).values(reboot_count=1))
        publish_reboot(client, settings.redis_prefix, run_id)
        assert watch.caught_up()
        assert reboots.take()
    finally:
        client.close()
        watch.close()
        reboots.close()


def test_caught_up_after_a_lost_subscription_has_read_what_went_nowhere(
    listener: AbortListener, run_id: str, db: SyncDatabase, settings: Settings
) -> None:
    """An abort committed while the listener's connection was down (its message lost): caught_up()
    is not True before the listener subscribed again and read the run from SQL."""
    watch = AbortWatch(settings.redis_url, settings.redis_prefix, db, run_id)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        watch.start(listener.mark())
        assert watch.caught_up() and not pending(watch.fileno())
        for entry in client.client_list(_type="pubsub"):
            if entry["name"] == f"{settings.redis_prefix}:abort":
                client.client_kill_filter(_id=entry["id"])
        _aborting(db, run_id)
        publish_abort(client, settings.redis_prefix, run_id)  # to nobody, or heard: either way
        _until(watch.caught_up, "the listener to catch up")
        assert pending(watch.fileno())
    finally:
        client.close()
        watch.close()
