"""Waiting for a run to finish without polling: register, read SQL, wait for a wake-up, read again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import NoResultFound

from server.in_flight import waiting
from server.lifespan import AppState
from server.statuses import RunStatus
from server.storage.rows import RunView
from server.wake import Wake


async def read_run(state: AppState, run_id: str, ends_only: bool = False) -> RunView:
    """The run as it stands now, read with the runs of the other waiters woken with it; `ends_only`:
    only its id, user, status and default storages (RunEnd)."""
    run = await (state.run_ends if ends_only else state.runs).get(run_id)
    if run is None:  # deleted meanwhile
        raise NoResultFound(f"run {run_id} is gone")
    return run


def wait_for_finish(
    state: AppState,
    run_id: str,
    timeout_s: float,
    *,
    woken: Wake | None = None,
    current: RunView | None = None,
    ends_only: bool = False,
) -> Awaitable[RunView]:
    """The run once terminal, or as it stands when timeout_s has passed or the server is stopping.

    A caller that registered itself (`woken`) before the run could finish may pass the run it
    holds as `current` instead of having it read again. Not a coroutine of its own: a frame of it
    would keep `current` for the whole wait, which keeps it only until it waits. `ends_only`: a run
    read once woken is a RunEnd (run-sync answers from nothing else).
    """
    if woken is None:
        return _watched(state, run_id, timeout_s)
    return _wait(state, run_id, timeout_s, woken, current, ends_only=ends_only)


async def _watched(state: AppState, run_id: str, timeout_s: float) -> RunView:
    with state.waiters.watch(run_id) as event:
        return await _wait(state, run_id, timeout_s, event, None)


def wait_for_claim(
    state: AppState, run_id: str, timeout_s: float, woken: Wake, current: RunView
) -> Awaitable[RunView]:
    """The run once a worker has it (no longer READY), or as it stands after timeout_s."""
    return _wait(state, run_id, timeout_s, woken, current, until=_claimed)


def _claimed(run: RunView) -> bool:
    return run.status != RunStatus.READY.value


async def _wait(
    state: AppState,
    run_id: str,
    timeout_s: float,
    woken: Wake,
    run: RunView | None,
    until: Callable[[RunView], bool] | None = None,
    ends_only: bool = False,
) -> RunView:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if run is None:
            run = await read_run(state, run_id, ends_only)
        remaining = deadline - loop.time()
        done = until(run) if until is not None else RunStatus(run.status).is_terminal
        if done or remaining <= 0 or state.waiters.draining:
            return run
        # Not kept while held (about 1.9 KB of each held request: bench/held_memory.py); read again
        # once woken, as SQL has it then.
        run = None
        with waiting():  # wait_woken's, inline: one coroutine less per held request
            await woken.wait(remaining)
        woken.clear()
