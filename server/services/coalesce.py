"""Lookups made in the same event-loop turn, answered together by one query per chunk of keys.

A burst of finishes wakes thousands of held requests at once, and each would open a session of
its own to read one row: 12,000 woken requests queued on a pool of 15 connections for about 30 s,
the pool's own timeout (bench/hold.py). Coalesced, they cost one SELECT per `chunk` rows, and a
single waiter pays only one more loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await get(key)`: the value `fetch` finds for key (None if absent), fetched with the keys
    of every other get() of this loop turn. A failed fetch raises in each of its callers."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], chunk: int = 500):
        self._fetch = fetch
        self._chunk = chunk
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._scheduled = False
        self._flushing: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if not self._scheduled:
            # After the callbacks that are ready now: every waiter woken with this one asks first.
            self._scheduled = True
            loop.call_soon(self._flush_soon)
        return await future

    def _flush_soon(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        task = asyncio.create_task(self._flush(pending))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, pending: dict[K, list[asyncio.Future[V | None]]]) -> None:
        keys = list(pending)
        for start in range(0, len(keys), self._chunk):
            part = keys[start : start + self._chunk]
            try:
                found = await self._fetch(part)
            except Exception as exc:  # raised in each caller, where the error handlers answer it
                for key in part:
                    for future in pending[key]:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for key in part:
                for future in pending[key]:
                    if not future.done():  # a caller that went away (its client disconnected)
                        future.set_result(found.get(key))
