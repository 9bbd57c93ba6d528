"""Wake: asyncio.Event's set, clear, is_set and wait, at a fraction of its size, and with a timeout
of its own.

asyncio.Event makes a deque for its waiters when it is made (760 bytes here), and a wait under
asyncio.timeout makes a Timeout and its handles besides (about 740 bytes): a held run-sync kept
three such Events (its wake-up, and two of uvicorn's per connection) and a timeout, about a fifth of
its memory (bench/held_memory.py). A Wake holds its waiter's future (a list only for two or more at
once) and times a wait out with one timer handle.
"""

from __future__ import annotations

import asyncio

Waiters = asyncio.Future[None] | list[asyncio.Future[None]] | None


class Wake:
    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: Waiters = None  # one waiter's future, or the list of several

    def set(self) -> None:
        self._set = True
        waiters = self._waiters
        for future in waiters if isinstance(waiters, list) else (waiters,) if waiters else ():
            if not future.done():
                future.set_result(None)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self, timeout_s: float | None = None) -> None:
        """Until set, or (given) until timeout_s has passed; the caller tells which by is_set()."""
        if self._set:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiters = self._waiters
        self._waiters = future if waiters is None else [*_listed(waiters), future]
        timer = loop.call_later(max(timeout_s, 0), _time_up, future) if timeout_s is not None else None
        try:
            await future  # a cancelled wait cancels its own future only
        finally:
            if timer is not None:
                timer.cancel()
            self._drop(future)

    def _drop(self, future: asyncio.Future[None]) -> None:
        waiters = self._waiters
        if waiters is future:
            self._waiters = None
        elif isinstance(waiters, list):
            waiters.remove(future)
            if len(waiters) == 1:
                self._waiters = waiters[0]


def _listed(waiters: asyncio.Future[None] | list[asyncio.Future[None]]) -> list[asyncio.Future[None]]:
    return waiters if isinstance(waiters, list) else [waiters]


def _time_up(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
