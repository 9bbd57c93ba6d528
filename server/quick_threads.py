"""A few threads of their own for the API's blocking calls: quick reads and writes
(Database.quick_read/quick_write), and enqueues (server/queue.py).

anyio.to_thread.run_sync, which they went through, cost the event loop more per call than many a
quick read's statements: a checkpoint (one more loop turn), a capacity limiter and a cancel scope
that each look the current task up, a context copy and a queue.Queue with its Condition; about a
sixth of the API's samples under run-sync load (bench/profile.py). Here a call is a future and a put
on a SimpleQueue, and the thread hands the outcome back with call_soon_threadsafe.

One difference: a caller cancelled while its call runs goes on at once (anyio's shielded call made it
wait); the call itself still ends in its thread, committed or rolled back, and close() waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[contextvars.Context, Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class QuickThreads:
    """`await run(fn)`: fn() in one of `count` threads, oldest call first. Threads start on the first
    call (no thread at import or construction) and stop at close()."""

    def __init__(self, count: int, name: str) -> None:
        self._count = count
        self._name = name
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []

    async def run(self, fn: Callable[[], T]) -> T:
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((contextvars.copy_context(), fn, loop, future))
        return await future

    def _start(self) -> None:
        for index in range(self._count):
            thread = threading.Thread(target=self._serve, name=f"{self._name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            _call(*job)
            del job  # nothing of a call kept while this thread waits for the next

    async def close(self) -> None:
        """Stop the threads once the calls queued before have ended (waited for in another thread)."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        if threads:
            await asyncio.to_thread(_join, threads)


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join()


def _call(
    context: contextvars.Context,
    fn: Callable[[], Any],
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
) -> None:
    try:
        outcome: tuple[bool, Any] = (True, context.run(fn))
    except BaseException as exc:  # handed to the caller, whatever it is
        outcome = (False, exc)
    with contextlib.suppress(RuntimeError):  # the caller's loop closed meanwhile: nobody waits
        loop.call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # its caller was cancelled
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    elif isinstance(value, StopIteration):  # which a future refuses to hold
        future.set_exception(RuntimeError(f"{value!r} raised in a quick call"))
    else:
        future.set_exception(value)
