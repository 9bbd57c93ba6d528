"""Request rate limits per token (or per client IP without one), counted per one-second window, as
Apify counts:

- over all of the API: GREENROOM_RATE_LIMIT_PER_S requests a second;
- per resource (one actor, task, run, build, dataset, store, queue...): GREENROOM_RATE_LIMIT_RESOURCE_PER_S
  a second; key-value records GREENROOM_RATE_LIMIT_RECORD_PER_S; run starts, run-sync, metamorphs,
  dataset pushes and request-queue requests GREENROOM_RATE_LIMIT_HEAVY_PER_S.

Beyond a limit: 429 `rate-limit-exceeded` in Apify's envelope, with `Retry-After` (seconds) and
`X-RateLimit-Limit`; every /v2 response carries `X-RateLimit-Limit`. The official clients retry a
429 with backoff (tests/test_rate_limits.py checks the Python and the JS client).

Each API process counts its own requests at once, in memory, and shares its counts through Redis
every SYNC_S in one pipelined round trip (INCRBY and EXPIRE per counter, keys
`<prefix>:rl:<who>[:<resource>]:<second>`), which answers with the deployment's totals. A request is
refused when the last totals plus this process's requests since then pass the limit: exact with one
API process; with several, a process learns of the others' requests at its next sync. A round
trip per request (as this was) cost a `GET` of a run a sixth of its CPU. A fixed window lets a caller
make up to twice the limit across a window's edge; a sliding window would cost a sorted set per
caller, and the point here is that one caller cannot take the API from the others, not exact metering.

Redis away or slow (its calls time out after 250 ms): each process goes on counting its own requests
(the limits hold per process), tries again a second later, and a warning is logged at most every
10 seconds. Limits protect the service; Redis trouble must not take it down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import RateLimitExceeded, api_error_response
from server.settings import Settings

log = logging.getLogger(__name__)

_REDIS_TIMEOUT_S = 0.25
SYNC_S = 0.05  # how often a process shares its counts: 20 round trips a second at most
_PAUSE_AFTER_ERROR_S = 1.0
_WARN_EVERY_S = 10.0

# /v2/<collection>/<id>/...: the resource is "<collection>/<id>" (acts and actors are one collection).
_RESOURCE_RE = re.compile(r"^/v2/([a-z-]+)/([^/]+)(/.*)?$")
_NOT_RESOURCES = {"users", "browser-info"}  # /v2/users/me is the caller, not a resource
_HEAVY_TAILS = re.compile(r"^/(runs|run-sync|run-sync-get-dataset-items|metamorph|items|requests)(/|$)")


def _token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = str(value.decode("latin-1")).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    query: str = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "token" and value:
            return str(value)
    return None


_CALLER = "greenroom.caller"


def caller_of(scope: Scope) -> str:
    """Who a request counts for: its token (hashed), else its client IP. Kept in the scope: the
    in-flight cap and the rate limits both ask."""
    who: str | None = scope.get(_CALLER)
    if who is None:
        token = _token(scope)
        if token is not None:
            who = "t" + hashlib.sha256(token.encode()).hexdigest()[:24]
        else:
            client = scope.get("client")
            who = "ip" + (client[0] if client else "unknown")
        scope[_CALLER] = who
    return who


def resource_limit(settings: Settings, method: str, path: str) -> tuple[str, int] | None:
    """(resource, its limit) for a request on one resource; None for collections and the caller's own."""
    match = _RESOURCE_RE.match(path)
    if match is None or match[1] in _NOT_RESOURCES:
        return None
    collection = "acts" if match[1] == "actors" else match[1]
    tail = match[3] or ""
    if collection == "key-value-stores" and tail.startswith("/records/"):
        limit = settings.rate_limit_record_per_s
    elif _HEAVY_TAILS.match(tail) and (
        method == "POST" or "run-sync" in tail or tail.startswith("/requests")
    ):
        limit = settings.rate_limit_heavy_per_s
    else:
        limit = settings.rate_limit_resource_per_s
    return f"{collection}/{match[2]}", limit


Window = tuple[int, str]  # (second, counter): <who> or <who>:<resource>


class Counts:
    """One API process's counts of the current windows. `shared`: the deployment's totals at the last
    sync; `unsent`: this process's requests since, not yet added to Redis; `sending`: those of the
    sync under way."""

    def __init__(self) -> None:
        self.shared: dict[Window, int] = {}
        self.unsent: dict[Window, int] = {}
        self.sending: dict[Window, int] = {}

    def add(self, window: Window) -> int:
        """Count one request; the window's count with it, as far as this process knows."""
        unsent = self.unsent.get(window, 0) + 1
        self.unsent[window] = unsent
        return self.shared.get(window, 0) + self.sending.get(window, 0) + unsent

    def take_unsent(self) -> dict[Window, int]:
        self.sending, self.unsent = self.unsent, {}
        return self.sending

    def synced(self, totals: dict[Window, int]) -> None:
        """The sync's answer: the deployment's totals of the windows it sent (ours included)."""
        self.shared.update(totals)
        self.sending = {}

    def unsynced(self) -> None:
        """The sync failed: what it carried stays known here, as this process's own."""
        for window, count in self.sending.items():
            self.shared[window] = self.shared.get(window, 0) + count
        self.sending = {}

    def forget_before(self, second: int) -> None:
        for windows in (self.shared, self.unsent):
            for window in [w for w in windows if w[0] < second]:
                del windows[window]


class RateLimits:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would drop contextvars) on /v2 requests."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.counts = Counts()
        self._redis: Redis | None = None
        self._sync: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._warned_at = 0.0

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine (it has nothing to do once the app is called): a held request keeps no
        frame of it."""
        if scope["type"] == "lifespan":
            return self._lifespan(scope, receive, send)
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/"):
            return self.app(scope, receive, send)
        settings = self.settings
        resource = resource_limit(settings, scope["method"], path)
        limit = resource[1] if resource and resource[1] else settings.rate_limit_per_s
        if not limit:  # no limit here (0 in the settings)
            return self.app(scope, receive, send)
        refused = self._count(caller_of(scope), resource)
        if refused is not None:
            return api_error_response(refused)(scope, receive, send)
        header = (b"x-ratelimit-limit", str(limit).encode())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        return self.app(scope, receive, sending)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if self._sync is not None:
                self._sync.cancel()
            if self._redis is not None:
                await self._redis.aclose()

    def _count(self, who: str, resource: tuple[str, int] | None) -> RateLimitExceeded | None:
        """Count this request; the refusal if it is over a limit."""
        second = int(time.time())
        refused = None
        counted = []
        if self.settings.rate_limit_per_s:
            counted.append((who, self.settings.rate_limit_per_s, "all requests of this caller"))
        if resource is not None and resource[1]:
            counted.append((f"{who}:{resource[0]}", resource[1], f"one resource: {resource[0]}"))
        for counter, limit, scope in counted:
            if self.counts.add((second, counter)) > limit and refused is None:
                refused = RateLimitExceeded(limit, scope, retry_after_s=1)
        if self._sync is None:
            self._sync = asyncio.get_running_loop().create_task(self._sync_soon())
        return refused

    async def _sync_soon(self) -> None:
        """This process's new counts go to Redis and the deployment's totals come back: at once (the
        first request after a quiet spell), then every SYNC_S while there are new counts."""
        try:
            while True:
                self.counts.forget_before(int(time.time()) - 1)
                unsent = self.counts.take_unsent()
                if not unsent:
                    return
                pause = SYNC_S
                try:
                    self.counts.synced(await self._send(unsent))
                except (RedisError, OSError, TimeoutError, RuntimeError) as exc:
                    # RuntimeError: uvloop's "the handler is closed", raised through redis-py while
                    # Redis restarts (a 500 seen in the fault loop). Such a connection may go back to
                    # the pool broken, so the next sync starts from a new client.
                    self.counts.unsynced()
                    self._forget_client()
                    pause = _PAUSE_AFTER_ERROR_S
                    now = time.monotonic()
                    if now - self._warned_at >= _WARN_EVERY_S:
                        self._warned_at = now
                        log.warning("rate limits counted in this process only: Redis: %s", exc)
                await asyncio.sleep(pause)
        finally:
            self._sync = None

    async def _send(self, unsent: dict[Window, int]) -> dict[Window, int]:
        prefix = f"{self.settings.redis_prefix}:rl"
        windows = list(unsent)
        pipe = self._client().pipeline(transaction=False)
        for second, counter in windows:
            key = f"{prefix}:{counter}:{second}"
            pipe.incrby(key, unsent[(second, counter)])
            pipe.expire(key, 2)
        totals = (await pipe.execute())[::2]
        return dict(zip(windows, totals, strict=True))

    def _forget_client(self) -> None:
        old, self._redis = self._redis, None
        if old is not None:
            task = asyncio.get_running_loop().create_task(_close_quietly(old))
            self._closing.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(self._closing.discard)

    def _client(self) -> Redis:
        if self._redis is None:  # made in the server's event loop, on its first request
            self._redis = Redis.from_url(
                self.settings.redis_url,
                socket_timeout=_REDIS_TIMEOUT_S,
                socket_connect_timeout=_REDIS_TIMEOUT_S,
            )
        return self._redis


async def _close_quietly(client: Redis) -> None:
    try:
        await client.aclose()
    except Exception:
        log.debug("closing a dropped rate-limit Redis client failed", exc_info=True)
