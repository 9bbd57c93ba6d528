"""Per-user limits: what a user may start, what they use now, and an admin's changes.

A user's limits are the settings (GREENROOM_MAX_CONCURRENT_RUNS, GREENROOM_MAX_RUNNING_MEMORY_MBYTES,
GREENROOM_MAX_RUN_MEMORY_MBYTES, GREENROOM_MAX_READY_RUNS) with their own overrides laid over
(`user_limits`, set with `greenroom users limits` or PUT /v2/users/me/limits).

- A start is refused (402) only when it can never run or the user's backlog is full: a run asking for
  more memory than one run may have, or than all the user's running runs together may, is refused with
  `actor-memory-limit-exceeded`; a start while the user already has GREENROOM_MAX_READY_RUNS runs
  waiting is refused with `concurrent-runs-limit-exceeded`.
- A run beyond the running limits (concurrent runs, their total memory) is accepted and waits in
  READY; the workers take READY runs fairly between users (worker/fair.py).
- Limits raised: the user's READY runs get wake-ups for the slots freed, after the commit.
"""

from __future__ import annotations

import calendar
import logging
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.errors import LimitExceeded
from server.queue import enqueue_run, enqueue_run_sync
from server.quick_threads import QuickThreads
from server.settings import Settings
from server.storage.db import Database, SyncDatabase
from server.storage.ids import iso, utcnow
from server.storage.limits import LIMIT_NAMES, wake_ids
from server.storage.limits import limits_and_usage as read_limits_and_usage
from server.storage.models import UserLimits

log = logging.getLogger(__name__)

GB = 1024


@dataclass(frozen=True)
class Limits:
    max_concurrent_runs: int
    max_running_memory_mbytes: int
    max_run_memory_mbytes: int
    max_ready_runs: int


@dataclass(frozen=True)
class Usage:
    active_runs: int
    active_memory_mbytes: int
    ready_runs: int


def _read(connection: Connection, settings: Settings, user_id: str) -> tuple[Limits, Usage]:
    limits, usage = read_limits_and_usage(connection, settings, user_id)
    return Limits(*limits), Usage(*usage)


async def limits_and_usage(session: AsyncSession, settings: Settings, user_id: str) -> tuple[Limits, Usage]:
    return await session.run_sync(lambda sync: _read(sync.connection(), settings, user_id))


def check_start(limits: Limits, usage: Usage, memory_mbytes: int) -> None:
    """Raise LimitExceeded if a run of `memory_mbytes` may not even wait for its turn."""
    if memory_mbytes > limits.max_run_memory_mbytes:
        raise LimitExceeded(
            "actor-memory-limit-exceeded",
            f"The run asks for {memory_mbytes} MB of memory; one run of this user may have at most "
            f"{limits.max_run_memory_mbytes} MB (GREENROOM_MAX_RUN_MEMORY_MBYTES or the user's limit).",
        )
    if memory_mbytes > limits.max_running_memory_mbytes:
        raise LimitExceeded(
            "actor-memory-limit-exceeded",
            f"The run asks for {memory_mbytes} MB of memory; all running runs of this user may have "
            f"{limits.max_running_memory_mbytes} MB together (GREENROOM_MAX_RUNNING_MEMORY_MBYTES or "
            "the user's limit), so it could never start.",
        )
    if usage.ready_runs >= limits.max_ready_runs:
        raise LimitExceeded(
            "concurrent-runs-limit-exceeded",
            f"This user already has {usage.ready_runs} runs waiting to start, the most allowed "
            f"(GREENROOM_MAX_READY_RUNS or the user's limit: {limits.max_ready_runs}); "
            "start more when some have started.",
        )


def check_start_allowed(session: Session, settings: Settings, user_id: str, memory_mbytes: int) -> None:
    """Inside the start's transaction, before the run is written (an async session: run_sync)."""
    limits, usage = _read(session.connection(), settings, user_id)
    check_start(limits, usage, memory_mbytes)


def _month(now: datetime) -> tuple[datetime, datetime]:
    last = calendar.monthrange(now.year, now.month)[1]
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year, now.month, last, 23, 59, 59, 999000, tzinfo=UTC)
    return start, end


def account_limits_json(settings: Settings, limits: Limits, usage: Usage) -> dict[str, Any]:
    """Apify's AccountLimits: the fields Greenroom enforces, the others as "no limit" (0 used), and
    Greenroom's own beside them (maxRunMemoryMbytes, maxReadyActorJobs, readyActorJobCount...)."""
    start, end = _month(utcnow())
    return {
        "monthlyUsageCycle": {"startAt": iso(start), "endAt": iso(end)},
        "limits": {
            "maxMonthlyUsageUsd": 0,
            "maxMonthlyActorComputeUnits": 0,
            "maxMonthlyExternalDataTransferGbytes": 0,
            "maxMonthlyProxySerps": 0,
            "maxMonthlyResidentialProxyGbytes": 0,
            "maxActorMemoryGbytes": limits.max_running_memory_mbytes / GB,
            "maxActorCount": 0,
            "maxActorTaskCount": 0,
            "maxConcurrentActorJobs": limits.max_concurrent_runs,
            "maxTeamAccountSeatCount": 0,
            "dataRetentionDays": math.ceil(settings.retention_days),  # 0: kept forever
            # Greenroom's own.
            "maxRunMemoryMbytes": limits.max_run_memory_mbytes,
            "maxReadyActorJobs": limits.max_ready_runs,
            "maxRequestsPerSecond": settings.rate_limit_per_s,
            "maxRequestsPerSecondPerResource": settings.rate_limit_resource_per_s,
        },
        "current": {
            "monthlyUsageUsd": 0,
            "monthlyActorComputeUnits": 0,
            "monthlyExternalDataTransferGbytes": 0,
            "monthlyProxySerps": 0,
            "monthlyResidentialProxyGbytes": 0,
            "actorMemoryGbytes": usage.active_memory_mbytes / GB,
            "actorCount": 0,
            "actorTaskCount": 0,
            "activeActorJobCount": usage.active_runs,
            "teamAccountSeatCount": 1,
            # Greenroom's own.
            "readyActorJobCount": usage.ready_runs,
        },
    }


async def account_limits(db: Database, settings: Settings, user_id: str) -> dict[str, Any]:
    async with db.read() as session:
        limits, usage = await limits_and_usage(session, settings, user_id)
    return account_limits_json(settings, limits, usage)


def _apply(session: Session, user_id: str, changes: dict[str, int | None]) -> None:
    """Lay `changes` (limit name -> value, None: back to the setting) over the user's overrides."""
    unknown = set(changes) - set(LIMIT_NAMES)
    if unknown:
        raise ValueError(f"not a limit: {', '.join(sorted(unknown))}")
    row = session.get(UserLimits, user_id)
    if row is None:
        row = UserLimits(user_id=user_id)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.modified_at = utcnow()


async def update_limits(
    db: Database,
    queue: Queue,
    enqueuing: QuickThreads,
    settings: Settings,
    user_id: str,
    changes: dict[str, int | None],
) -> dict[str, Any]:
    """Change a user's overrides, commit, then wake workers for the READY runs the change lets go."""
    async with db.transaction() as session:
        await session.run_sync(lambda sync: _apply(sync, user_id, changes))
    async with db.read() as session:
        woken = await session.run_sync(lambda sync: wake_ids(sync.connection(), settings, user_id))
        limits, usage = await limits_and_usage(session, settings, user_id)
    for run_id in woken:  # committed: a woken worker sees the new limits
        await enqueue_run(queue, run_id, enqueuing)
    return account_limits_json(settings, limits, usage)


def set_limits(
    db: SyncDatabase, queue: Queue | None, settings: Settings, user_id: str, changes: dict[str, int | None]
) -> dict[str, int]:
    """`greenroom users limits`: update_limits from the command line; the user's limits now."""
    with db.transaction() as session:
        _apply(session, user_id, changes)
    with db.begin() as connection:
        woken = wake_ids(connection, settings, user_id)
        limits, _usage = _read(connection, settings, user_id)
    if queue is not None:
        try:
            for run_id in woken:
                enqueue_run_sync(queue, run_id)
        except RedisError as exc:
            log.warning("could not wake runs %s (%s); the sweeper will", woken, exc)
    return asdict(limits)


def limits_of(db: SyncDatabase, settings: Settings, user_id: str) -> tuple[Limits, Usage]:
    with db.begin() as connection:
        return _read(connection, settings, user_id)
