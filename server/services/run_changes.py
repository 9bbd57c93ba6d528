"""A run's status and status message as they change, for a caller that shows them while it waits
(run-sync with Accept: text/event-stream).

A run's end wakes the waiter at once (its run-finished message); a status message, which the actor
writes to SQL without a message, is seen within POLL_S: the run is read again at least that often
(with the reads of the other waiters woken at the same moment, server/services/reads.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from server.in_flight import wait_woken
from server.lifespan import AppState
from server.services.waiting import read_run
from server.statuses import RunStatus
from server.storage.rows import RunView
from server.wake import Wake

POLL_S = 1.0


async def run_changes(
    state: AppState, run_id: str, woken: Wake, current: RunView | None, wait_s: float, idle_s: float
) -> AsyncIterator[RunView | None]:
    """The run each time its status or status message changes (first: as it is now), and None after
    each idle_s without a change. Ends after the run as it ended, or as it stands when wait_s has
    passed or the server is stopping. `woken`: the caller's registration (state.waiters.watch), made
    before `current` was read."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    shown: tuple[str, str | None] | None = None
    quiet_since = loop.time()
    run = current
    while True:
        if run is None:
            run = await read_run(state, run_id)
        now = loop.time()
        if (run.status, run.status_message) != shown:
            shown = (run.status, run.status_message)
            quiet_since = now
            yield run
        elif now - quiet_since >= idle_s:
            quiet_since = now
            yield None
        if RunStatus(run.status).is_terminal or now >= deadline or state.waiters.draining:
            return  # the run as it ended, or as it stands, was the last yielded
        timeout = min(POLL_S, deadline - now, idle_s - (now - quiet_since))
        await wait_woken(woken, timeout)
        woken.clear()
        run = None
