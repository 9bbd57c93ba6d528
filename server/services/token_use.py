"""When each API token was last used, kept to within a minute.

The time is written by the request that finds it more than a minute old (its token's row is read
by every request anyway, so no other bookkeeping is needed), in a task of its own: the request never
waits for the write, and a write that fails (a busy SQLite file, a lost connection) costs only the
precision of this one column, so it is logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update

from server.lifespan import AppState
from server.storage.ids import aware, utcnow
from server.storage.models import ApiToken

log = logging.getLogger(__name__)

PRECISION = timedelta(minutes=1)


def note_use(state: AppState, token_id: str, last_used_at: datetime | None) -> None:
    now = utcnow()
    if last_used_at is not None and now - aware(last_used_at) < PRECISION:
        return
    task = asyncio.get_running_loop().create_task(_write(state, token_id, now))
    state.background.add(task)  # held until done: the loop keeps only a weak reference
    task.add_done_callback(state.background.discard)


async def _write(state: AppState, token_id: str, now: datetime) -> None:
    # The condition keeps concurrent requests (and API processes) from each writing the same minute.
    stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - PRECISION)
    try:
        async with state.db.transaction() as session:
            await session.execute(
                update(ApiToken).where(ApiToken.id == token_id, stale).values(last_used_at=now)
            )
    except Exception:
        log.warning("could not record the use of API token %s", token_id, exc_info=True)
