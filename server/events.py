"""Run wake-ups: workers publish a run id after committing; each API process listens once.

Three channels: run-finished (the terminal state is committed), run-started (a worker's claim, READY
-> RUNNING, is committed, or an Actor Standby run is ready: for a start that waits for it) and
log-appended (a log chunk is committed). Redis only wakes. A waiter registers first, then reads SQL,
then waits; a wake-up (a message, or a (re)subscription, after which any message may have been
missed) makes it read SQL again. A finish waiter is woken by run-finished only: a started or log
message would make it read the run again for nothing (a run-sync did, once per run). A waiter that
registered for the start too is woken by both; log followers by all three.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.wake import Wake

log = logging.getLogger(__name__)


def finished_channel(prefix: str) -> str:
    return f"{prefix}:run-finished"


def started_channel(prefix: str) -> str:
    return f"{prefix}:run-started"


def log_channel(prefix: str) -> str:
    return f"{prefix}:log-appended"


def publish_run_finished(client: redis.Redis, prefix: str, run_id: str) -> None:
    """Called only after the terminal state is committed."""
    client.publish(finished_channel(prefix), run_id)


def publish_run_started(client: redis.Redis, prefix: str, run_id: str) -> None:
    """Called only after a worker's claim (READY -> RUNNING) is committed: wakes a start waiting for
    it (a waiter registered with `started`), not the run's finish waiters."""
    client.publish(started_channel(prefix), run_id)


def publish_log_appended(client: redis.Redis, prefix: str, run_id: str) -> None:
    """Called only after a log chunk is committed."""
    client.publish(log_channel(prefix), run_id)


def listener_name(prefix: str, role: str) -> str:
    """The CLIENT SETNAME of a pub/sub connection (`greenroom:waiters`, `greenroom:abort`): which
    deployment's listener it is, for operators (and tests) that look at CLIENT LIST."""
    return f"{prefix}:{role}"


def abort_channel(prefix: str, run_id: str) -> str:
    """The channel the worker supervising one run listens on while the run goes."""
    return f"{prefix}:abort:{run_id}"


def publish_abort(client: redis.Redis, prefix: str, run_id: str) -> None:
    """Called only after ABORTING (and how) is committed; the supervisor reads the rest from SQL."""
    client.publish(abort_channel(prefix, run_id), "abort")


def publish_reboot(client: redis.Redis, prefix: str, run_id: str) -> None:
    """Called only after a reboot or metamorph is committed. The same channel as abort: the supervisor
    reads the run's whole control state from SQL on any message (one subscription per running run)."""
    client.publish(abort_channel(prefix, run_id), "reboot")


class RunWaiters:
    """One pub/sub connection per API process, and the events of the requests waiting on runs."""

    def __init__(self, redis_url: str, prefix: str):
        self._redis_url = redis_url
        self._client_name = listener_name(prefix, "waiters")
        finished, started, logged = finished_channel(prefix), started_channel(prefix), log_channel(prefix)
        self._channels = (finished, started, logged)
        self._events: dict[str, list[Wake]] = {}  # woken when the run ends
        self._start_events: dict[str, list[Wake]] = {}  # and when it starts
        self._log_events: dict[str, list[Wake]] = {}  # and at each log chunk
        self._registries = (self._events, self._start_events, self._log_events)
        self._woken_by = {  # who a message on each channel wakes
            finished.encode(): self._registries,
            started.encode(): (self._start_events, self._log_events),
            logged.encode(): (self._log_events,),
        }
        # Requests held now, by kind (run-sync, waitForFinish): GET /metrics reads it.
        self.held: collections.Counter[str] = collections.Counter()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.subscribed = asyncio.Event()
        self.resubscriptions = 0
        # Set when the process is told to stop: every wait ends now with the run as it stands, so
        # the server can close its connections instead of holding them up to the wait limit.
        self.draining = False

    @property
    def waiting(self) -> int:
        return sum(
            len(events) for registry in (self._events, self._start_events) for events in registry.values()
        )

    @property
    def following(self) -> int:
        """Log followers (streaming log responses) registered now."""
        return sum(len(events) for events in self._log_events.values())

    async def start(self, ready_timeout_s: float = 10.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._listen(), name="run-finished-listener")
        await asyncio.wait_for(self.subscribed.wait(), ready_timeout_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._wake_all()

    def drain_soon(self) -> None:
        """Safe from a signal handler or another thread: end every wait, now and from now on."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self.draining = True
        self._wake_all()

    def watch(self, run_id: str, kind: str = "waitForFinish", *, started: bool = False) -> Watch:
        """Register before reading SQL, so a finish between the read and the wait is never missed.
        `started`: woken by the run's start (a worker's claim, a standby run's readiness) too."""
        return Watch(self, self._start_events if started else self._events, run_id, kind)

    def follow_log(self, run_id: str) -> Watch:
        """Like watch, but also woken by each committed log chunk of the run (not counted as held:
        `following` counts it)."""
        return Watch(self, self._log_events, run_id, None)

    def _wake(self, run_id: str, channel: bytes) -> None:
        for registry in self._woken_by[channel]:
            for event in registry.get(run_id, ()):
                event.set()

    def _wake_all(self) -> None:
        for registry in self._registries:
            for events in registry.values():
                for event in events:
                    event.set()

    async def _listen(self) -> None:
        backoff_s = 0.1
        while True:
            client = aioredis.Redis.from_url(
                self._redis_url, health_check_interval=10, client_name=self._client_name
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(*self._channels)
                async for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "message":
                        self._wake(message["data"].decode(), message["channel"])
                    elif kind == "subscribe" and message["data"] == len(self._channels):
                        # Acted on once every channel is confirmed (the reply counts them).
                        # redis-py re-subscribes by itself after a reconnect: messages published
                        # meanwhile are lost, so every waiter re-reads SQL.
                        self.resubscriptions += 1
                        self.subscribed.set()
                        self._wake_all()
                        backoff_s = 0.1
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("run-finished listener lost Redis (%s); reconnecting", exc)
                self.subscribed.clear()
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()


class Watch:
    """RunWaiters.watch's (and follow_log's) registration, `with` it: its Wake; counted as held by
    its kind, if it has one. A class, not a generator-based context manager: a held request keeps
    it while it waits, and a generator, its frame and its manager are several times its size."""

    __slots__ = ("_kind", "_registry", "_run_id", "_waiters", "_wake")

    def __init__(
        self, waiters: RunWaiters, registry: dict[str, list[Wake]], run_id: str, kind: str | None
    ) -> None:
        self._waiters, self._registry, self._run_id, self._kind = waiters, registry, run_id, kind
        self._wake: Wake | None = None

    def __enter__(self) -> Wake:
        self._wake = _register(self._registry, self._run_id)
        if self._kind is not None:
            self._waiters.held[self._kind] += 1
        return self._wake

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._wake is not None:
            if self._kind is not None:
                self._waiters.held[self._kind] -= 1
            _unregister(self._registry, self._run_id, self._wake)
            self._wake = None


def _register(registry: dict[str, list[Wake]], run_id: str) -> Wake:
    wake = Wake()
    registry.setdefault(run_id, []).append(wake)
    return wake


def _unregister(registry: dict[str, list[Wake]], run_id: str, wake: Wake) -> None:
    wakes = registry.get(run_id)
    if wakes is not None:
        wakes.remove(wake)
        if not wakes:
            del registry[run_id]
