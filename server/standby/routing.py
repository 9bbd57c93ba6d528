"""Which standby run takes a request, and when another is started (Apify's Standby scaling).

A user's standby runs of an actor (origin STANDBY, READY or RUNNING) are read from SQL; those with a
`standby_url` are ready, the others are starting. Of the ready runs not draining, the one with the
fewest requests in flight below `maxRequestsPerActorRun` takes the request (server/standby/activity.py
counts them). Another run is started, at most one at a time and at most GREENROOM_STANDBY_MAX_RUNS,
when the requests in flight with this one would be more than `desiredRequestsPerActorRun` per run: so
a first request starts the first run, and a burst starts a second before the first is full. A
request that finds no room waits (GREENROOM_STANDBY_START_TIMEOUT_S) for a run to be ready or for
room on one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from server.errors import ApiError
from server.in_flight import wait_woken, waiting
from server.run_options import RunOverrides
from server.services.runs import RunMeta, start_run
from server.standby import activity
from server.standby.config import STANDBY_ORIGIN, StandbyConfig
from server.standby.errors import StandbyBusy, StandbyNotReady, StandbyRunFailed
from server.statuses import RunStatus
from server.storage.ids import new_id
from server.storage.models import Actor, Run, User

if TYPE_CHECKING:
    from server.lifespan import AppState

_LIVE = (RunStatus.READY.value, RunStatus.RUNNING.value)
# While no run has room and none is starting, how often a waiting request looks again.
_RECHECK_S = 0.25


@dataclass(frozen=True)
class Target:
    """The run a request goes to, counted in flight there until `leave`."""

    run_id: str
    url: str
    request_id: str


@dataclass(frozen=True)
class _Run:
    id: str
    status: str
    url: str | None
    message: str | None


async def _runs(state: AppState, user: User, actor: Actor, ids: list[str]) -> list[_Run]:
    """The user's live standby runs of the actor, and the runs of `ids` whatever their status."""
    live = (Run.origin == STANDBY_ORIGIN) & Run.status.in_(_LIVE)
    stmt = select(Run.id, Run.status, Run.standby_url, Run.status_message).where(
        Run.user_id == user.id, Run.act_id == actor.id, live | Run.id.in_(ids)
    )
    # The quick path (a sync session in a thread): on every request, an async session's round trips
    # cost the event loop twice what the query does (bench/standby.py).
    rows = await state.db.quick_read(lambda session: session.execute(stmt).all())
    return [_Run(*row) for row in rows]


async def take(state: AppState, user: User, actor: Actor, config: StandbyConfig) -> Target:
    """A run with room for one more request, counted in flight there; started first if need be."""
    settings = state.settings
    prefix = settings.redis_prefix
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.standby_start_timeout_s
    started: list[str] = []  # the runs this request started
    while True:
        runs = await _runs(state, user, actor, started)
        failed = [r for r in runs if r.id in started and r.status not in _LIVE]
        if failed:
            raise _failed(settings.api_base_url, failed[0])
        live = [r for r in runs if r.status in _LIVE]
        ready = [r for r in live if r.url and r.status == RunStatus.RUNNING.value]
        starting = [r for r in live if not r.url]
        loads = await activity.loads(state.standby.redis, prefix, [r.id for r in ready]) if ready else []
        open_runs = [(n, r) for r, (n, draining) in zip(ready, loads, strict=True) if not draining]
        in_flight = sum(n for n, _r in open_runs) + 1
        room = [(n, r) for n, r in open_runs if n < config.max_requests]
        wanted = in_flight > config.desired_requests * (len(open_runs) + len(starting))
        max_runs = settings.standby_max_runs
        if wanted and not starting and (not max_runs or len(live) < max_runs):
            new = await _start(state, user, actor, config)
            if new is not None:
                started.append(new.id)
                starting.append(_Run(new.id, new.status, None, None))
        for _n, run in sorted(room, key=lambda pair: pair[0]):
            request_id = new_id()
            hold_s = settings.standby_request_timeout_s + 60
            redis = state.standby.redis
            if run.url and await activity.enter(
                redis, prefix, run.id, request_id, hold_s, config.max_requests
            ):
                return Target(run.id, run.url, request_id)
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _too_late(settings.standby_start_timeout_s, bool(starting), settings.standby_max_runs)
        if starting:
            # Woken when the worker says the run is ready (or it ends); read SQL again regardless.
            with state.waiters.watch(starting[0].id, "standby", started=True) as woken:
                await wait_woken(woken, min(remaining, 1.0))
        else:
            with waiting():
                await asyncio.sleep(min(remaining, _RECHECK_S))


async def leave(state: AppState, target: Target) -> None:
    await activity.leave(state.standby.redis, state.settings.redis_prefix, target.run_id, target.request_id)


async def _start(state: AppState, user: User, actor: Actor, config: StandbyConfig) -> Run | None:
    """A standby run: the standby build and memory, no timeout (it ends when idle), no input given
    (its input schema's defaults apply). None if another request is starting one right now."""
    redis, prefix = state.standby.redis, state.settings.redis_prefix
    if not await activity.starting(redis, prefix, user.id, actor.id):
        return None
    overrides = RunOverrides(timeout_s=0, memory_mbytes=config.memory_mbytes, build=config.build)
    try:
        started = await start_run(state, user, actor, None, overrides, None, RunMeta(origin=STANDBY_ORIGIN))
        return started.run
    finally:
        await activity.started(redis, prefix, user.id, actor.id)


def _failed(api_base_url: str, run: _Run) -> StandbyRunFailed:
    why = f": {run.message}" if run.message else ""
    return StandbyRunFailed(
        f"The Actor's standby run {run.id} ended {run.status} before it was ready{why}. Its log:"
        f" {api_base_url}/v2/actor-runs/{run.id}/log"
    )


def _too_late(timeout_s: float, starting: bool, max_runs: int) -> ApiError:
    if starting:
        return StandbyNotReady(
            f"No standby run of the Actor answered its readiness probe within {timeout_s:g} s"
            " (GREENROOM_STANDBY_START_TIMEOUT_S). Its server must listen on ACTOR_WEB_SERVER_PORT and"
            " answer GET / with the x-apify-container-server-readiness-probe header."
        )
    return StandbyBusy(
        f"Every standby run of the Actor is at its maxRequestsPerActorRun and there are"
        f" {max_runs} of them (GREENROOM_STANDBY_MAX_RUNS): no room within {timeout_s:g} s."
    )
