"""A row of the method table: one method of a client class, in Python and/or JS, how to call it on the
world, and whether Greenroom provides it.

`call(client, world)` is the Python call, the same for ApifyClient and ApifyClientAsync (the async run
awaits what it returns); `pick(result, world)` turns the result into a plain value, reading back through
the world's API where a method returns nothing; `js` is the body of an async function of `c` (the JS
client) and `w` (the world's ids) returning the same plain value. Both must equal `expect(world)`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.clients.world import World


@dataclass(frozen=True)
class Works:
    label = "works"


@dataclass(frozen=True)
class Pending:
    """Planned (an open issue names it): called as an expected failure, so its landing shows as XPASS."""

    operation: str
    label = "pending"


@dataclass(frozen=True)
class Absent:
    """Not provided by Greenroom: not called."""

    reason: str
    label = "not provided"


Status = Works | Pending | Absent
WORKS = Works()
# How long a watcher (status messages, streamed log) may take to log its first message.
WATCHED_S = 15.0


def _same(result: Any, world: World) -> Any:
    return result


@dataclass(frozen=True)
class Row:
    cls: str  # the Python class name (ActorClient); JS names its classes the same
    py: str | None  # None: the Python client has no such method
    js: str | None  # None: the JS client has no such method
    status: Status = WORKS
    call: Callable[[Any, World], Any] | None = None
    pick: Callable[[Any, World], Any] = _same
    js_body: str | None = None
    expect: Callable[[World], Any] | None = None
    via: str | None = None  # a second path to a method already listed (run.dataset().update())

    @property
    def key(self) -> str:
        name = self.py or self.js
        return f"{self.cls}.{name}" + (f" via {self.via}" if self.via else "")


def row(
    cls: str,
    py: str | None,
    js: str | None,
    call: Callable[[Any, World], Any] | None,
    js_body: str | None,
    expect: Callable[[World], Any],
    pick: Callable[[Any, World], Any] = _same,
    status: Status = WORKS,
    via: str | None = None,
) -> Row:
    return Row(cls, py, js, status, call, pick, js_body, expect, via)


def absent(cls: str, py: str | None, js: str | None, reason: str) -> Row:
    return Row(cls, py, js, Absent(reason))


def field_of(*names: str) -> Callable[[Any, World], Any]:
    """pick: the result's attribute (a model) or key (a dict), followed along `names`."""

    def pick(result: Any, world: World) -> Any:
        for name in names:
            result = result[name] if isinstance(result, dict) else getattr(result, name)
        return result

    return pick


def _is_response(value: Any) -> bool:
    return hasattr(value, "read") and hasattr(value, "aread") and hasattr(value, "status_code")


def materialize(value: Any, logged: Callable[[], bool] = lambda: True) -> Any:
    """What a sync call gave, with streams read, iterators listed and context managers entered (a
    watcher's, until `logged()` says it logged, for at most WATCHED_S)."""
    if isinstance(value, contextlib.AbstractContextManager) and not _is_response(value):
        with value as inner:
            if inner is value:  # a watcher or a streamed log: it works while the caller's body runs
                deadline = time.monotonic() + WATCHED_S
                while not logged() and time.monotonic() < deadline:
                    time.sleep(0.05)
                return value
            return materialize(inner)
    if _is_response(value):
        return value.read()
    if isinstance(value, dict) and _is_response(value.get("value")):
        return value | {"value": value["value"].read()}
    if inspect.isgenerator(value) or (hasattr(value, "__next__") and hasattr(value, "__iter__")):
        return list(value)
    return value


async def amaterialize(value: Any, logged: Callable[[], bool] = lambda: True) -> Any:
    """The same for an async call."""
    if inspect.isawaitable(value):
        value = await value
    if isinstance(value, contextlib.AbstractAsyncContextManager) and not _is_response(value):
        async with value as inner:
            if inner is value:
                deadline = time.monotonic() + WATCHED_S
                while not logged() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                return value
            return await amaterialize(inner)
    if _is_response(value):
        return await value.aread()
    if isinstance(value, dict) and _is_response(value.get("value")):
        return value | {"value": await value["value"].aread()}
    if hasattr(value, "__aiter__"):
        return [item async for item in value]
    return value


SOURCE = [{"name": "main.py", "format": "TEXT", "content": "print('made')"}]


def ids_of(result: Any) -> list[str]:
    """The ids of a listed page (a model with items) or of an iterated list."""
    return [item.id for item in (result if isinstance(result, list) else result.items)]


def has(attr: str) -> Callable[[Any, World], bool]:
    """pick: is the world's `attr` among the listed ids."""
    return lambda result, world: getattr(world, attr) in ids_of(result)


def js_has(call: str, attr: str) -> str:
    return f"return (await {call}).items.map((x) => x.id).includes(w.{attr});"


def gone(path: str) -> Callable[[Any, World], bool]:
    """pick: does GET `path` (formatted with the world as `w`) answer 404 now."""
    return lambda result, world: world.read(path.format(w=world)) is None


def js_gone(client: str) -> str:
    return f"await {client}.delete(); return (await {client}.get()) === undefined;"


def logged(text: str) -> Callable[[Any, World], bool]:
    """pick: did a message with `text` reach the world's logger."""
    return lambda result, world: any(text in message for message in world.logged)


def public(url: str, world: World) -> Any:
    """pick: what a public URL serves, fetched without the token."""
    response = httpx.get(url)
    response.raise_for_status()
    return response.json()
