"""Hearing that a run should abort (or was rebooted): a Redis message wakes the supervisor, SQL says how.

A message can be lost (Redis restarted, the connection dropped), so after every (re)subscription
the listener reads every watched run from SQL too: an ABORTING run is aborted even if its message
never came. A message can also be forged (anyone who can PUBLISH on Redis), so a message only makes
the watch read SQL: the run is aborted only if SQL says it is ABORTING.

The same read gives the run's reboot generation to `reboots` (worker/reboots.py): reboots and
metamorphs wake the supervisor on the same channel, and are believed from SQL only as well.

One listener per worker process (AbortListener) holds one pattern subscription to every run's
channel, from the first run on; a run's watch only registers with it. A connection, a subscription
and a thread per run cost the worker more CPU than the rest of a no-op run's supervision (a fifth
of a worker's time under load, bench/versus.py), and the abort messages of runs on other workers
that this listener hears too are rare.

A watch reads SQL when it starts, unless the listener heard every message since before the run
was claimed (`mark()` taken before the claim, the same subscription still up at `start`) and none
of them was for this run: what was asked before the claim is in the claim's own read, and a message
that came between the claim and the watch is remembered for it. That read was a transaction on
every run's path (1.5 to 2.4 ms of a 30 ms no-op run-sync).

After each attempt the job asks whether the run was rebooted meanwhile (an actor may exit right after
asking for its reboot, before the message came): `caught_up()` publishes a message on the
listener's own channel and waits for the listener to hear it. Redis hands a subscriber its messages
in the order they were published, so every message published before it (a reboot's, committed
first) has been handled by then; and one lost while the subscription was down was read from SQL
when it came back up, before anything published after. Only if that fails is SQL read again, as it
was after every attempt (a transaction of about 7% of a worker's CPU on a no-op run).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import uuid
from collections import OrderedDict

import redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.events import abort_channel, listener_name
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.runs import RUNS
from worker.reboots import RebootSignal
from worker.run_spec import generation

# How long caught_up() waits for its own message (a round trip to Redis, then the listener's turn);
# past it, SQL is read instead.
_CATCH_UP_S = 1.0


class AbortWatch:
    """A readable fd (for select) that becomes ready once the run is ABORTING."""

    def __init__(
        self, redis_url: str, prefix: str, db: SyncDatabase, run_id: str, reboots: RebootSignal | None = None
    ):
        self._redis = (redis_url, prefix)
        self._listener: AbortListener | None = None
        self._db = db
        self.run_id = self._run_id = run_id
        self.reboots = reboots
        self._read_fd, self._write_fd = os.pipe()
        self._fired = False
        self._closed = False
        self._lock = threading.Lock()  # fire() from the listener's thread never writes to a closed fd

    def fileno(self) -> int:
        return self._read_fd

    def start(self, mark: int | None = None) -> None:
        """Listening from now on; then SQL, for what was asked before, unless the listener heard
        everything since `mark` (AbortListener.mark(), taken before the run's state was read)."""
        self._listener = abort_listener(*self._redis)
        if self._listener.watch(self, mark):
            self.check()

    def graceful(self) -> bool:
        """How the abort was asked for (read when it fires)."""
        with self._db.begin() as connection:
            value = connection.execute(
                select(RUNS.c.abort_gracefully).where(RUNS.c.id == self._run_id)
            ).scalar_one_or_none()
        return bool(value)

    def caught_up(self) -> bool:
        """Whether what SQL holds for the run now has reached this watch (AbortListener.caught_up);
        else check() reads it."""
        return self._listener is not None and self._listener.caught_up()

    def check(self) -> None:
        """Read the run from SQL: ABORTING fires the abort; a new generation goes to `reboots`."""
        with self._db.begin() as connection:
            row = connection.execute(
                select(RUNS.c.status, RUNS.c.reboot_count, RUNS.c.metamorphs).where(RUNS.c.id == self._run_id)
            ).one()
        if self.reboots is not None:
            self.reboots.seen(generation(row.reboot_count, row.metamorphs))
        if row.status == RunStatus.ABORTING.value:
            self.fire()

    def fire(self) -> None:
        """Abort now (also called when the run's lease is lost: the run is no longer ours)."""
        with self._lock:
            if not self._fired and not self._closed:
                self._fired = True
                os.write(self._write_fd, b"!")

    def close(self) -> None:
        if self._listener is not None:
            self._listener.unwatch(self)
        with self._lock:
            self._closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)


class AbortListener:
    """This process's subscription to every run's control channel, and the watches it wakes."""

    def __init__(self, redis_url: str, prefix: str):
        self._client = redis.Redis.from_url(redis_url, client_name=listener_name(prefix, "abort"))
        self._pattern = abort_channel(prefix, "*")
        self._prefix_length = len(abort_channel(prefix, ""))
        self._own = f"{prefix}:abort-sync:{uuid.uuid4().hex}".encode()  # caught_up()'s channel
        self._syncs = itertools.count()
        self._synced: dict[bytes, threading.Event] = {}
        self._watches: dict[str, AbortWatch] = {}
        # Messages heard for runs nobody watched (yet): a run's watch may start just after.
        self._unwatched: OrderedDict[str, None] = OrderedDict()
        self._subscription = 0  # counts subscriptions; 0 while none is up
        self._subscriptions = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="abort-listener", daemon=True)
        self._thread.start()

    def mark(self) -> int | None:
        """Take before reading a run's state: the subscription up now, if any."""
        with self._lock:
            return self._subscription or None

    def watch(self, watch: AbortWatch, mark: int | None = None) -> bool:
        """Wake `watch` on its run's messages from now on; True if it must read SQL: not heard
        everything since `mark`, or heard something for its run meanwhile."""
        with self._lock:
            self._watches[watch.run_id] = watch
            heard = watch.run_id in self._unwatched
            self._unwatched.pop(watch.run_id, None)
            return mark is None or mark != self._subscription or heard

    def caught_up(self, timeout_s: float = _CATCH_UP_S) -> bool:
        """True once every message published to the runs' channels before this call has been
        handled (see the module docstring); False if the listener is down or did not hear back in
        timeout_s."""
        with self._lock:
            if not self._subscription:
                return False
            sync = str(next(self._syncs)).encode()
            heard = self._synced[sync] = threading.Event()
        try:
            self._client.publish(self._own, sync)
            return heard.wait(timeout_s)
        except redis.RedisError:
            return False
        finally:
            with self._lock:
                self._synced.pop(sync, None)

    def unwatch(self, watch: AbortWatch) -> None:
        with self._lock:
            if self._watches.get(watch.run_id) is watch:
                del self._watches[watch.run_id]

    def idle(self) -> bool:
        with self._lock:
            return not self._watches

    def _check(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            with self._lock:
                watch = self._watches.get(run_id)
                if watch is None:
                    self._unwatched[run_id] = None
                    if len(self._unwatched) > _UNWATCHED_KEPT:
                        self._unwatched.popitem(last=False)
            if watch is not None:
                watch.check()

    def _heard(self, sync: bytes) -> None:
        with self._lock:
            heard = self._synced.get(sync)
        if heard is not None:
            heard.set()

    def _subscribed(self, up: bool) -> list[str]:
        with self._lock:
            self._subscription = next(self._subscriptions) if up else 0
            self._unwatched.clear()  # a watch that started before this reads SQL anyway
            return list(self._watches)

    def _listen(self) -> None:
        while not self._closed.is_set():
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                # Its own channel first: caught_up() waits only while the pattern is subscribed.
                pubsub.subscribe(self._own)
                pubsub.psubscribe(self._pattern)
                for message in pubsub.listen():
                    if self._closed.is_set():
                        return
                    if message["type"] == "psubscribe":  # (re)subscribed: what came meanwhile is in SQL
                        self._check(self._subscribed(True))
                    elif message["type"] == "pmessage":
                        self._check([message["channel"].decode()[self._prefix_length :]])
                    elif message["type"] == "message":
                        self._heard(message["data"])
            # AttributeError: redis-py, when close() drops the connection under a blocked listen().
            # SQLAlchemyError: the database is away; resubscribing reads it again.
            except (
                redis.ConnectionError,
                redis.TimeoutError,
                OSError,
                ValueError,
                AttributeError,
                SQLAlchemyError,
            ):
                self._subscribed(False)
                if self._closed.wait(0.5):
                    return
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self._client.close()
        # Closing the client's sockets ends a blocked listen() in the thread.
        with contextlib.suppress(Exception):
            self._client.connection_pool.disconnect()


# Runs whose message came before their watch started: far more than a worker could start meanwhile.
_UNWATCHED_KEPT = 10_000

_current: tuple[tuple[int, str, str], AbortListener] | None = None
_current_lock = threading.Lock()


def abort_listener(redis_url: str, prefix: str) -> AbortListener:
    """This process's listener for these settings (a forked child has none; a test that changes the
    settings gets a new one, and the old one goes once nothing is watched on it)."""
    global _current
    key = (os.getpid(), redis_url, prefix)
    with _current_lock:
        if _current is None or _current[0] != key:
            if _current is not None and _current[0][0] == key[0] and _current[1].idle():
                _current[1].close()
            _current = (key, AbortListener(redis_url, prefix))
        return _current[1]
