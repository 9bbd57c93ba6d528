"""QuickThreads (server/quick_threads.py): the threads behind Database.quick_read/quick_write."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading

import pytest

from server.quick_threads import QuickThreads

_who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def _threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_calls_run_in_at_most_count_threads_and_hand_back_results_and_errors() -> None:
    asyncio.run(_calls())


async def _calls() -> None:
    quick = QuickThreads(2, "test-quick-a")
    assert _threads_named("test-quick-a") == []  # none until the first call
    release = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    def blocked(n: int) -> int:
        with lock:
            running.append(n)
        release.wait(10)
        return n * 10

    calls = [asyncio.ensure_future(quick.run(functools.partial(blocked, n))) for n in range(5)]
    for _ in range(200):
        if len(running) == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert running == [0, 1]  # two threads, the oldest calls first; the rest wait
    release.set()
    assert await asyncio.gather(*calls) == [0, 10, 20, 30, 40]
    assert sorted(running) == [0, 1, 2, 3, 4]

    def fails() -> None:
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        await quick.run(fails)

    def stops() -> None:
        raise StopIteration  # a future cannot hold it: a RuntimeError instead of a caller left waiting

    with pytest.raises(RuntimeError, match="StopIteration"):
        await quick.run(stops)

    _who.set("the caller")
    assert await quick.run(_who.get) == "the caller"  # the caller's context, as anyio's threads had
    assert len(_threads_named("test-quick-a")) == 2
    await quick.close()
    assert _threads_named("test-quick-a") == []


def test_a_cancelled_caller_leaves_its_call_to_end_and_close_waits_for_it() -> None:
    asyncio.run(_cancelled())


async def _cancelled() -> None:
    quick = QuickThreads(1, "test-quick-b")
    started, release, ended = threading.Event(), threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        ended.set()
        return "done"

    call = asyncio.ensure_future(quick.run(slow))
    assert await asyncio.to_thread(started.wait, 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert not ended.is_set()  # the call goes on in its thread

    closing = asyncio.ensure_future(quick.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # close() waits for the call still running
    release.set()
    await asyncio.wait_for(closing, 10)
    assert ended.is_set()
    assert _threads_named("test-quick-b") == []
