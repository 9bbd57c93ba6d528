"""Request rate limits per token (or per client IP without one), counted in Redis, as Apify counts:

- over all of the API: GREENROOM_RATE_LIMIT_PER_S requests a second;
- per resource (one actor, task, run, build, dataset, store, queue...): GREENROOM_RATE_LIMIT_RESOURCE_PER_S
  a second; key-value records GREENROOM_RATE_LIMIT_RECORD_PER_S; run starts, run-sync, metamorphs,
  dataset pushes and request-queue requests GREENROOM_RATE_LIMIT_HEAVY_PER_S.

Beyond a limit: 429 `rate-limit-exceeded` in Apify's envelope, with `Retry-After` (seconds) and
`X-RateLimit-Limit`; every /v2 response carries `X-RateLimit-Limit`. The official clients retry a
429 with backoff (tests/test_rate_limits.py checks the Python and the JS client).

Fixed one-second windows: one pipelined round trip per request (INCR and EXPIRE per counter), keys
`<prefix>:rl:<who>[:<resource>]:<second>`. A fixed window lets a caller make up to twice the limit
across a window's edge; a sliding window would cost a sorted set per caller, and the point here is
that one caller cannot take the API from the others, not exact metering.

Redis away or slow (its calls time out after 250 ms): the request is served uncounted (fail open),
counting is skipped for a second so that no request waits on Redis meanwhile, and a warning is
logged at most every 10 seconds. Limits protect the service; Redis trouble must not take it down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import RateLimitExceeded, api_error_response
from server.settings import Settings

log = logging.getLogger(__name__)

_REDIS_TIMEOUT_S = 0.25
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


class RateLimits:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would drop contextvars) on /v2 requests."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._redis: Redis | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self._warned_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                if self._redis is not None:
                    await self._redis.aclose()
            return
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        settings = self.settings
        resource = resource_limit(settings, scope["method"], path)
        limit = resource[1] if resource and resource[1] else settings.rate_limit_per_s
        if not limit:  # no limit here (0 in the settings)
            await self.app(scope, receive, send)
            return
        refused = await self._count(caller_of(scope), resource)
        if refused is not None:
            await api_error_response(refused)(scope, receive, send)
            return
        header = (b"x-ratelimit-limit", str(limit).encode())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, sending)

    async def _count(self, who: str, resource: tuple[str, int] | None) -> RateLimitExceeded | None:
        """Count this request; the refusal if it is over a limit (None: within, or not counted)."""
        now = time.time()
        if now < self._paused_until:
            return None
        second = int(now)
        prefix = f"{self.settings.redis_prefix}:rl:{who}"
        keys = []
        if self.settings.rate_limit_per_s:
            keys.append((f"{prefix}:{second}", self.settings.rate_limit_per_s, "all requests of this caller"))
        if resource is not None and resource[1]:
            keys.append((f"{prefix}:{resource[0]}:{second}", resource[1], f"one resource: {resource[0]}"))
        try:
            pipe = self._client().pipeline(transaction=False)
            for key, _limit, _scope in keys:
                pipe.incr(key)
                pipe.expire(key, 2)
            counts = (await pipe.execute())[::2]
        except (RedisError, OSError, TimeoutError, RuntimeError) as exc:
            # RuntimeError: uvloop's "the handler is closed", raised through redis-py while Redis
            # restarts (a 500 seen in the fault loop). Such a connection may go back to the pool
            # broken, so the next count starts from a new client.
            self._forget_client()
            self._paused_until = now + _PAUSE_AFTER_ERROR_S
            if now - self._warned_at >= _WARN_EVERY_S:
                self._warned_at = now
                log.warning("rate limits not counted for %g s: Redis: %s", _PAUSE_AFTER_ERROR_S, exc)
            return None
        for count, (_key, limit, scope) in zip(counts, keys, strict=True):
            if count > limit:
                return RateLimitExceeded(limit, scope, retry_after_s=1)
        return None

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
