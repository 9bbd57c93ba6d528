"""Waiting for a run to finish without polling: register, read SQL, wait for a wake-up, read again."""

from __future__ import annotations

import asyncio
import contextlib

from server.lifespan import AppState
from server.statuses import RunStatus
from server.storage.models import Run
from server.storage.runs import get_run_stmt


async def read_run(state: AppState, run_id: str) -> Run:
    async with state.db.read() as session:
        return (await session.execute(get_run_stmt(run_id))).scalar_one()


async def wait_for_finish(state: AppState, run_id: str, timeout_s: float) -> Run:
    """The run once terminal, or as it stands when timeout_s has passed (not an error)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with state.waiters.watch(run_id) as woken:
        while True:
            run = await read_run(state, run_id)
            remaining = deadline - loop.time()
            if RunStatus(run.status).is_terminal or remaining <= 0:
                return run
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), remaining)
            woken.clear()
