"""The database away for a while (restarted, failing over): what a worker must write waits for it.
Redis away: a run's end is published once it is back (until_published).

A run whose actor ended while PostgreSQL was down still has a true end to record. The worker keeps
trying until the database answers; meanwhile the sweeper does not judge leases (server/sweeper/sweep.py),
so the run is not failed as if its worker had died.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_DELAY_S = 1.0


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or cut the connection (as opposed to a bad statement)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def until_written(write: Callable[[], T], what: str) -> T:
    """write(), again and again while the database is unavailable (at most a second apart)."""
    delay_s = 0.1
    warned = False
    while True:
        try:
            return write()
        except DBAPIError as exc:
            if not database_unavailable(exc):
                raise
            if not warned:
                log.warning("the database is not available to write %s (%s); retrying", what, exc)
                warned = True
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, _MAX_DELAY_S)


def until_published(publish: Callable[[], None], what: str) -> None:
    """publish(), again and again while Redis cannot be reached (at most a second apart)."""
    delay_s = 0.1
    warned = False
    while True:
        try:
            return publish()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not warned:
                log.warning("Redis is not available to publish %s (%s); retrying", what, exc)
                warned = True
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, _MAX_DELAY_S)
