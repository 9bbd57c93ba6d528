"""Leases on running runs and builds: the worker renews its lease, a sweeper ends what a dead worker
left behind. Every change is a compare-and-set on the status, so a sweeper never overwrites a
finished run, and a worker whose run was swept learns it from a renewal that moved no row.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, Update, bindparam, select, update

from server.statuses import RunStatus
from server.storage.models import Build, Run
from server.storage.runs import ACTIVE

RUNS = cast(Table, Run.__table__)
BUILDS = cast(Table, Build.__table__)
_ACTIVE = [s.value for s in ACTIVE]
_BUILDING = [RunStatus.RUNNING.value, RunStatus.ABORTING.value]

# Executed with {"run_id", "owner", "until"}; rowcount 0: the run is no longer this attempt's to run.
RENEW_RUN: Update = (
    update(RUNS)
    .where(
        RUNS.c.id == bindparam("run_id"),
        RUNS.c.status.in_(_ACTIVE),
        RUNS.c.lease_owner == bindparam("owner"),
    )
    .values(lease_expires_at=bindparam("until", type_=RUNS.c.lease_expires_at.type))
)
RENEW_BUILD: Update = (
    update(BUILDS)
    .where(BUILDS.c.id == bindparam("build_id"), BUILDS.c.status.in_(_BUILDING))
    .values(lease_expires_at=bindparam("until", type_=BUILDS.c.lease_expires_at.type))
)

# Executed with {"now"}: runs whose worker stopped renewing.
EXPIRED_RUNS = select(RUNS.c.id, RUNS.c.options, RUNS.c.stats, RUNS.c.origin).where(
    RUNS.c.status.in_(_ACTIVE), RUNS.c.lease_expires_at < bindparam("now", type_=RUNS.c.lease_expires_at.type)
)
EXPIRED_BUILDS = select(BUILDS).where(
    BUILDS.c.status.in_(_BUILDING),
    BUILDS.c.lease_expires_at < bindparam("now", type_=BUILDS.c.lease_expires_at.type),
)

# Executed with {"before"}: builds still READY a while after they were created (their job may be lost).
# (Runs: server/storage/limits.py STALE_CLAIMABLE_RUNS, which leaves out runs held back by a limit.)
STALE_READY_BUILDS = select(BUILDS.c.id).where(
    BUILDS.c.status == RunStatus.READY.value,
    BUILDS.c.started_at < bindparam("before", type_=BUILDS.c.started_at.type),
)

_NOW = bindparam("now", type_=RUNS.c.lease_expires_at.type)

# Executed with {"run_id", "now", "message"}: fail a run whose lease expired (and is still expired:
# a worker that renewed meanwhile keeps its run).
REAP_RUN: Update = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), RUNS.c.status.in_(_ACTIVE), RUNS.c.lease_expires_at < _NOW)
    .values(
        status=RunStatus.FAILED.value,
        finished_at=_NOW,
        status_message=bindparam("message"),
        is_status_message_terminal=True,
        lease_expires_at=None,
    )
)
# Executed with {"run_id", "owner", "stats"}: a stopping worker hands back the run this attempt holds
# (restartOnError): READY again, to be enqueued. An ABORTING or TIMING-OUT run is not handed back.
HAND_BACK_RUN: Update = (
    update(RUNS)
    .where(
        RUNS.c.id == bindparam("run_id"),
        RUNS.c.status == RunStatus.RUNNING.value,
        RUNS.c.lease_owner == bindparam("owner"),
    )
    .values(
        status=RunStatus.READY.value,
        stats=bindparam("stats", type_=RUNS.c.stats.type),
        lease_expires_at=None,
        lease_owner=None,
    )
)
# Executed with {"run_id", "now", "stats"}: restartOnError: the run goes back to READY, to be enqueued.
REQUEUE_RUN: Update = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), RUNS.c.status.in_(_ACTIVE), RUNS.c.lease_expires_at < _NOW)
    .values(
        status=RunStatus.READY.value,
        stats=bindparam("stats", type_=RUNS.c.stats.type),
        lease_expires_at=None,
        lease_owner=None,
    )
)
