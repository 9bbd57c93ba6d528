"""The API process's connections for Actor Standby, opened by its lifespan (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis

from server.settings import Settings


@dataclass
class StandbyClients:
    """The API process's connections for Standby: Redis for the counts, HTTP to the runs."""

    redis: aioredis.Redis
    http: httpx.AsyncClient

    @classmethod
    def open(cls, settings: Settings) -> StandbyClients:
        timeout = httpx.Timeout(settings.standby_request_timeout_s, connect=5.0)
        # Each run's server is a host of its own: a few kept-alive connections to each.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        return cls(
            redis=aioredis.Redis.from_url(settings.redis_url),
            http=httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False),
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
