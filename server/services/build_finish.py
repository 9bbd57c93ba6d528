"""A build's end, written in one transaction: by the worker that built it (worker/builds/job.py),
or by the sweeper for a build whose worker died (server/sweeper/). Synchronous: both callers are
threads of their own, never the API's event loop.

The end is a compare-and-set on the build's status (RUNNING or ABORTING), so a build ended twice
(its worker came back after the sweeper failed it) keeps the first end.
"""

from __future__ import annotations

from typing import Any, cast

from rq import Queue
from sqlalchemy import Connection, Table, bindparam, func, select, update

from server.queue import enqueue_new_dispatches_sync
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.ids import iso, utcnow
from server.storage.models import Actor, Build
from server.webhooks.events import BUILD_EVENTS, fire_build_sync

BUILDS, ACTORS = cast(Table, Build.__table__), cast(Table, Actor.__table__)


def finish_build(
    db: SyncDatabase, webhooks: Queue, row: dict[str, Any], status: RunStatus, stats: dict[str, Any]
) -> RunStatus | None:
    """The terminal state (ABORTED if an abort came meanwhile) and the actor's tags, in one
    transaction. None if the build is gone (its actor was deleted)."""
    now = utcnow()
    values = {"finished_at": now, "stats": stats}
    build = BUILDS.c.id == row["id"]
    with db.begin() as connection:
        aborting = BUILDS.c.status == RunStatus.ABORTING.value
        if connection.execute(
            update(BUILDS).where(build, aborting).values(status=RunStatus.ABORTED.value, **values)
        ).rowcount:
            status = RunStatus.ABORTED
        else:
            running = BUILDS.c.status == RunStatus.RUNNING.value
            moved = connection.execute(
                update(BUILDS).where(build, running).values(status=status.value, **values)
            )
            if moved.rowcount != 1:
                return None
        _retag(connection, row, status, now)
        dispatches = fire_build_sync(connection, BUILD_EVENTS[status], row["id"])
    # Committed: now the webhooks can be called.
    if dispatches:
        enqueue_new_dispatches_sync(webhooks, dispatches)
    return status


_LOCK_ACTOR = (
    update(ACTORS).where(ACTORS.c.id == bindparam("act_id")).values(modified_at=ACTORS.c.modified_at)
)
_ACTOR_TAGS = select(ACTORS.c.tagged_builds, ACTORS.c.pending_builds).where(
    ACTORS.c.id == bindparam("act_id")
)


def _retag(connection: Connection, row: dict[str, Any], status: RunStatus, now: Any) -> None:
    """The build is no longer its tag's pending build; a success takes the tag unless a build that
    started later has it already (builds may end out of order)."""
    tag, act = row["tag"], {"act_id": row["act_id"]}
    # The actor's row is locked first, as the API does (server/services/build_versions.lock_actor).
    if tag is None or connection.execute(_LOCK_ACTOR, act).rowcount != 1:
        return
    tagged, pending = (dict(tags or {}) for tags in connection.execute(_ACTOR_TAGS, act).one())
    if (pending.get(tag) or {}).get("buildId") == row["id"]:
        del pending[tag]
    if status is RunStatus.SUCCEEDED:
        holder = (tagged.get(tag) or {}).get("buildId")
        this_started = select(BUILDS.c.started_at).where(BUILDS.c.id == row["id"]).scalar_subquery()
        later = select(func.count()).where(BUILDS.c.id == holder, BUILDS.c.started_at > this_started)
        if holder is None or not connection.execute(later).scalar_one():
            tagged[tag] = {"buildId": row["id"], "buildNumber": row["build_number"], "finishedAt": iso(now)}
    connection.execute(
        update(ACTORS)
        .where(ACTORS.c.id == row["act_id"])
        .values(tagged_builds=tagged, pending_builds=pending)
    )
