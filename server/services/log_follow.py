"""Following a run's or a build's log as it is written (the API's stream=1, the console's log view).

Following reads SQL only when woken: by a log-appended message (the worker commits a chunk, then
publishes), a run-finished message, or the listener's resubscription. It never polls.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

from server.in_flight import waiting
from server.lifespan import AppState
from server.statuses import RunStatus
from server.storage.logs import RUN_LOG, LogTable

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def keep(text: str) -> str:
    return text


async def follow(
    state: AppState, run_id: str, clean: Callable[[str], str], table: LogTable = RUN_LOG
) -> AsyncIterator[str]:
    """The run's log chunks in order, as they are committed, until the run is terminal and all is sent.

    Registered before the first read, so a chunk or finish committed in between wakes it. The status
    is read before the chunks: the worker commits its last chunk before the terminal state, so a
    terminal status means the chunk read after it is the rest of the log. Leaving the generator (the
    client went away and Starlette cancelled it) drops the registration.
    """
    with state.waiters.follow_log(run_id) as woken:
        sent = -1
        while True:
            woken.clear()  # before reading: a wake-up during the read means read again
            async with state.db.read() as session:
                key = {table.key: run_id}
                status = (await session.execute(table.status, key)).scalar_one_or_none()
                chunks = (await session.execute(table.read_after, {**key, "after_seq": sent})).all()
            for seq, content in chunks:
                yield clean(content)
                sent = seq
            # None: the run was deleted meanwhile. Draining: the server is stopping.
            if status is None or RunStatus(status).is_terminal or state.waiters.draining:
                return
            with waiting():
                await woken.wait()
