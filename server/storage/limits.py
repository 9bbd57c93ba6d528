"""Per-user limits and the fair claim, as statements (no commits here).

A user's limit is their `user_limits` override, else the setting: `coalesce(override, :default)`,
with the settings' values bound as parameters (DEFAULTS_OF), so the statements are built once.

CLAIM_NEXT is the whole scheduling decision, in one UPDATE: of the READY runs of a queue, the one
of the user with the fewest active runs (ties: the oldest run), skipping users whose active runs are
at their count or memory limit, goes READY -> RUNNING. One statement, so that on SQLite it runs under
the write lock (no two claims see the same counts); on PostgreSQL the caller first takes
CLAIM_LOCK, a transaction-scoped advisory lock, for the same reason (READ COMMITTED would let two
claims of one user both see 24 of 25 slots taken).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import ScalarSelect

from server.settings import USER_LIMIT_NAMES, Settings
from server.statuses import RunStatus
from server.storage.models import Run, UserLimits
from server.storage.prepared import Prepared
from server.storage.runs import status_is

RUNS = cast(Table, Run.__table__)
LIMITS = cast(Table, UserLimits.__table__)
_ACTIVE = [RunStatus.RUNNING.value, RunStatus.TIMING_OUT.value, RunStatus.ABORTING.value]
READY = RunStatus.READY.value

# The limits a user can have overridden: user_limits' columns, named as the Settings attributes.
LIMIT_NAMES = USER_LIMIT_NAMES


def defaults_of(settings: Settings) -> dict[str, int]:
    """The bind parameters every statement here takes: the settings' limits."""
    return {f"default_{name}": int(getattr(settings, name)) for name in LIMIT_NAMES}


def _limit(name: str, limits: Table | Any = LIMITS) -> ColumnElement[int]:
    return func.coalesce(limits.c[name], bindparam(f"default_{name}"))


def run_memory(runs: Table | Any = RUNS) -> ColumnElement[int]:
    """A run's memory (its options' memoryMbytes), in SQL."""
    return func.coalesce(runs.c.options["memoryMbytes"].as_integer(), 0)


# Per user with an active run: how many, and their memory.
_ACTIVE_BY_USER = (
    select(
        RUNS.c.user_id.label("user_id"),
        func.count().label("runs"),
        func.sum(run_memory()).label("memory"),
    )
    .where(status_is(_ACTIVE))
    .group_by(RUNS.c.user_id)
    .subquery("active")
)


def _claimable() -> tuple[Any, ColumnElement[bool], ColumnElement[int]]:
    """(FROM clause, the predicate "this READY run fits its user's limits now", its user's active runs)."""
    ready = RUNS.alias("ready")
    active_runs = func.coalesce(_ACTIVE_BY_USER.c.runs, 0)
    active_memory = func.coalesce(_ACTIVE_BY_USER.c.memory, 0)
    fits = and_(
        active_runs < _limit("max_concurrent_runs"),
        active_memory + run_memory(ready) <= _limit("max_running_memory_mbytes"),
    )
    joined = ready.outerjoin(_ACTIVE_BY_USER, _ACTIVE_BY_USER.c.user_id == ready.c.user_id).outerjoin(
        LIMITS, LIMITS.c.user_id == ready.c.user_id
    )
    return (ready, joined), fits, active_runs


def _next_run() -> ScalarSelect[Any]:
    (ready, joined), fits, active_runs = _claimable()
    # The job's own run is a candidate even without a queue name (a run made before 0012).
    mine = or_(ready.c.queue_name == bindparam("queue"), ready.c.id == bindparam("job_run_id"))
    return (
        select(ready.c.id)
        .select_from(joined)
        .where(ready.c.status == READY, mine, fits)
        .order_by(active_runs, ready.c.started_at, ready.c.id)
        .limit(1)
        .scalar_subquery()
    )


# Executed with {"queue", "job_run_id", "owner", "until", **defaults_of(settings)}; RETURNING the run
# claimed (none: nothing READY fits its user's limits).
CLAIM_NEXT: Update = (
    update(RUNS)
    .where(RUNS.c.id == _next_run(), RUNS.c.status == READY)
    .values(
        status=RunStatus.RUNNING.value,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=RUNS.c.lease_expires_at.type),
    )
    .returning(RUNS.c.id, RUNS.c.user_id)
)

# PostgreSQL: claims wait for each other (held to the end of the claim's transaction).
CLAIM_LOCK: TextClause = text("SELECT pg_advisory_xact_lock(7239114)")


def _stale_claimable() -> Select[Any]:
    (ready, joined), fits, _ = _claimable()
    return (
        select(ready.c.id)
        .select_from(joined)
        .where(
            ready.c.status == READY,
            ready.c.started_at < bindparam("before", type_=RUNS.c.started_at.type),
            or_(ready.c.queue_name == bindparam("queue"), ready.c.queue_name.is_(None)),
            fits,
        )
        .order_by(ready.c.started_at)
    )


# Executed with {"before", "queue", **defaults_of(settings)}: this queue's READY runs created before
# `before` that fit their user's limits now, oldest first. A run held back by a limit is not here:
# it has no job on purpose, and gets one when a run of its user ends (WAKE_USER_RUNS).
STALE_CLAIMABLE_RUNS: Select[Any] = _stale_claimable()


def _usage(*more: ColumnElement[Any]) -> Any:
    """The user's active runs, their memory, and their READY runs (one row, zeros for none)."""
    return (
        select(
            func.count().filter(status_is(_ACTIVE)).label("active"),
            func.coalesce(func.sum(run_memory()).filter(status_is(_ACTIVE)), 0).label("memory"),
            func.count().filter(RUNS.c.status == READY).label("ready"),
            *more,
        )
        .where(RUNS.c.user_id == bindparam("user_id"), status_is([*_ACTIVE, READY]))
        .subquery("usage")
    )


def _limits_and(usage: Any) -> Select[Any]:
    """The user's limits (overrides over settings), in LIMIT_NAMES' order, then `usage`'s columns."""
    limits = (
        func.coalesce(
            select(LIMITS.c[name]).where(LIMITS.c.user_id == bindparam("user_id")).scalar_subquery(),
            bindparam(f"default_{name}"),
        )
        for name in LIMIT_NAMES
    )
    return select(*limits, *usage.c).select_from(usage)


# Executed with {"user_id", **defaults_of(settings)}: the limits, then the usage (active runs, their
# memory, READY runs). One statement: a start and a run's end read both.
_LIMITS_AND_USAGE: Select[Any] = _limits_and(_usage())
# A run's end reads the largest memory a READY run of the user asks for too (wake_ids_at_end).
_LIMITS_AND_USAGE_AT_END: Select[Any] = _limits_and(
    _usage(func.coalesce(func.max(run_memory()).filter(RUNS.c.status == READY), 0).label("ready_memory"))
)

# Executed with {"user_id", "count"}: the user's oldest READY runs, to wake as many workers when one
# of their runs ended (or their limits grew): each gets a job (job id = run id).
WAKE_USER_RUNS: Select[Any] = (
    select(RUNS.c.id)
    .where(RUNS.c.user_id == bindparam("user_id"), RUNS.c.status == READY)
    .order_by(RUNS.c.started_at, RUNS.c.id)
    .limit(bindparam("count"))
)


# Read by every start and every run's end: prepared, it costs a fraction of its execution through
# SQLAlchemy, which was 11% of the API's samples under callable run-syncs (bench/profile.py).
_LIMITS_AND_USAGE_READ = Prepared(_LIMITS_AND_USAGE)
_LIMITS_AND_USAGE_AT_END_READ = Prepared(_LIMITS_AND_USAGE_AT_END)


def limits_and_usage(
    connection: Connection, settings: Settings, user_id: str, read: Prepared = _LIMITS_AND_USAGE_READ
) -> tuple[list[int], list[int]]:
    """The user's limits (LIMIT_NAMES' order) and usage (active runs, their memory, READY runs)."""
    row = read.first(connection, {"user_id": user_id, **defaults_of(settings)})
    assert row is not None  # an aggregate: one row, zeros for no runs
    values = [int(value) for value in row]
    return values[: len(LIMIT_NAMES)], values[len(LIMIT_NAMES) :]


def wake_ids(connection: Connection, settings: Settings, user_id: str) -> list[str]:
    """The user's READY runs to enqueue a job for now: as many as they have free run slots."""
    limits, (active, _memory, ready) = limits_and_usage(connection, settings, user_id)
    return _oldest_ready(connection, user_id, min(ready, limits[0] - active))  # [0]: max_concurrent_runs


def wake_ids_at_end(
    connection: Connection, settings: Settings, user_id: str, memory_mbytes: int
) -> list[str]:
    """wake_ids, in the SQLite transaction that just ended a run of `memory_mbytes`: none, without
    looking, when before that end the user was under their concurrent-runs limit with memory to
    spare for any READY run of theirs.

    A READY run loses its job only to a claim that found it held back by a limit. The first end of
    a run of that user after such a claim finds the user still at the limit, and wakes it if it fits
    now; if it does not fit, the next claim holds it back again, and so on. So an end that finds the
    user under both limits finds every READY run of theirs that fits with its job (a job lost with
    Redis is the sweeper's to find). SQLite's write lock puts every claim and end in one order, which
    this needs; on another database, or with the user at a limit, the READY runs are looked for, and
    their jobs in Redis (worker/fair.py). Under one user's backlog of run-syncs, that look and its
    Redis check were about a tenth of the pool's samples (bench/profile.py --kind callable)."""
    if connection.dialect.name != "sqlite":
        return wake_ids(connection, settings, user_id)
    limits, (active, memory, ready, ready_memory) = limits_and_usage(
        connection, settings, user_id, _LIMITS_AND_USAGE_AT_END_READ
    )
    max_runs, max_memory = limits[0], limits[1]  # LIMIT_NAMES' order
    # Counted as if this run were still active: a run the sweeper ended first counts twice, which
    # only makes a wake-up likelier.
    if active + 1 < max_runs and memory + memory_mbytes + ready_memory <= max_memory:
        return []
    return _oldest_ready(connection, user_id, min(ready, max_runs - active))


def _oldest_ready(connection: Connection, user_id: str, count: int) -> list[str]:
    if count <= 0:
        return []
    return list(connection.execute(WAKE_USER_RUNS, {"user_id": user_id, "count": count}).scalars())
