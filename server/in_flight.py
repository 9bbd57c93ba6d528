"""Requests in progress per caller (token, or client IP without one) on one API process.

A per-second rate limit cannot keep one caller from taking an API process from the others: with
Apify's limit (250,000 a minute) one token may ask more than a process answers, and every request
it has in progress is one the others' requests wait behind on the event loop. So a caller has at
most GREENROOM_MAX_IN_FLIGHT_PER_CALLER requests in progress per API process; its next ones wait
their turn, in order, costing nothing while they wait, and beyond GREENROOM_MAX_QUEUED_PER_CALLER
waiting the next is refused at once with Apify's 429 `rate-limit-exceeded` (the official clients
retry it). This runs before any other work: no Redis round trip, no routing, no access-log line.
Refusing instead of queueing was measured worse (bench/fair_share.py --wrk): a flooder that is
answered at once asks again at once, and thousands of refusals a second still take the event loop.

A request waiting on a run, a build or a log (run-sync, waitForFinish, a followed log) costs nothing
while it waits, so it gives its place back around the wait (`waiting()`, called where the services
block) and takes one again after without queueing: it was admitted already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import TooManyInFlight, api_error_response
from server.observability.metrics import instruments
from server.rate_limits import caller_of
from server.settings import Settings
from server.wake import Wake


class _Caller:
    __slots__ = ("in_progress", "queue")

    def __init__(self) -> None:
        self.in_progress = 0
        self.queue: deque[asyncio.Future[None]] = deque()


class Places:
    """The places of one API process's callers (one event loop: no lock needed)."""

    def __init__(self, cap: int, queue_cap: int) -> None:
        self.cap, self.queue_cap = cap, queue_cap
        self.callers: dict[str, _Caller] = {}  # only callers with requests in progress

    async def enter(self, who: str) -> bool:
        """Take a place, after waiting for one if need be; False: refused (too many waiting)."""
        caller = self.callers.setdefault(who, _Caller())
        if caller.in_progress < self.cap:
            caller.in_progress += 1
            return True
        if len(caller.queue) >= self.queue_cap:
            return False
        turn = asyncio.get_running_loop().create_future()
        caller.queue.append(turn)
        try:
            await turn  # set by leave(), which counted this request in
        except asyncio.CancelledError:
            if turn.cancelled():
                with contextlib.suppress(ValueError):
                    caller.queue.remove(turn)
            else:  # handed over just as this request went away: hand it on
                self.leave(who)
            raise
        return True

    def reenter(self, who: str) -> None:
        """Take a place again after a wait, whatever the count (the count may go over the cap, and
        the next waiting request then waits until it is back under)."""
        self.callers.setdefault(who, _Caller()).in_progress += 1

    def leave(self, who: str) -> None:
        caller = self.callers[who]
        caller.in_progress -= 1
        while caller.in_progress < self.cap and caller.queue:
            turn = caller.queue.popleft()
            if not turn.done():  # a request that went away while it waited is skipped
                turn.set_result(None)
                caller.in_progress += 1
        if not caller.in_progress:
            del self.callers[who]


class _Place:
    """One request's place; given back at most once per taking. Slotted: a held request keeps it."""

    __slots__ = ("held", "places", "who")

    def __init__(self, places: Places, who: str) -> None:
        self.places, self.who, self.held = places, who, True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.places.leave(self.who)

    def take_again(self) -> None:
        if not self.held:
            self.held = True
            self.places.reenter(self.who)


_place: ContextVar[_Place | None] = ContextVar("greenroom_in_flight_place", default=None)


class waiting:
    """Around a request's wait for an event: it does not count as in progress meanwhile. A class,
    not a generator-based context manager: a held request keeps it for as long as it waits, and a
    generator, its frame and its manager are several times its size."""

    __slots__ = ("_place",)

    def __enter__(self) -> None:
        self._place = _place.get()  # None: not in a request (a job, a test calling a service)
        if self._place is not None:
            self._place.give_back()

    def __exit__(self, *exc_info: object) -> None:
        if self._place is not None:
            self._place.take_again()


async def wait_woken(event: Wake, timeout_s: float) -> None:
    """Until `event` is set or timeout_s has passed, not counted as in progress meanwhile: a held
    request's wait."""
    with waiting():
        await event.wait(timeout_s)


class InFlight:
    """Pure ASGI middleware, outermost: waiting and refusing cost the least they can."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.places = Places(settings.max_in_flight_per_caller, settings.max_queued_per_caller)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.places.cap or scope["type"] != "http" or not scope.get("path", "").startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        who = caller_of(scope)
        if not await self.places.enter(who):
            instruments().http_refused_in_flight.inc()
            refused = TooManyInFlight(self.places.cap, self.places.queue_cap)
            await api_error_response(refused)(scope, receive, send)
            return
        place = _Place(self.places, who)
        token = _place.set(place)
        try:
            await self.app(scope, receive, send)
        finally:
            _place.reset(token)
            place.give_back()
