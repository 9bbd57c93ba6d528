"""Firing webhook events: dispatches are written in the transaction of the status change itself.

So an event fires exactly when its transition commits, once per transition (the transition is a
compare-and-set, so only one writer makes it), and a crash after the commit loses nothing: the
dispatch rows are there, and the sweeper enqueues any whose job never reached Redis. The callers
enqueue the returned dispatch ids after their commit.

Used by the API (async sessions) and the workers (sync connections): statements, rows and shapes
are shared; only the two small executors differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.shapes import build_json, run_json
from server.statuses import RunStatus
from server.storage.ids import new_id, utcnow
from server.storage.models import Build, Run
from server.storage.webhooks import ACTIVE, BUILD_ROW, INSERT_DISPATCH, MATCH_BUILD, MATCH_RUN, RUN_ROW

RUN_EVENTS = {
    RunStatus.SUCCEEDED: "ACTOR.RUN.SUCCEEDED",
    RunStatus.FAILED: "ACTOR.RUN.FAILED",
    RunStatus.TIMED_OUT: "ACTOR.RUN.TIMED_OUT",
    RunStatus.ABORTED: "ACTOR.RUN.ABORTED",
}
BUILD_EVENTS = {
    RunStatus.SUCCEEDED: "ACTOR.BUILD.SUCCEEDED",
    RunStatus.FAILED: "ACTOR.BUILD.FAILED",
    RunStatus.TIMED_OUT: "ACTOR.BUILD.TIMED_OUT",
    RunStatus.ABORTED: "ACTOR.BUILD.ABORTED",
}
RUN_CREATED, RUN_RESURRECTED = "ACTOR.RUN.CREATED", "ACTOR.RUN.RESURRECTED"
BUILD_CREATED = "ACTOR.BUILD.CREATED"
# session.info key: ids of the dispatches a transaction made, to enqueue once it commits.
NEW_DISPATCHES = "greenroom.new_dispatches"


def run_event_data(run: Run) -> dict[str, Any]:
    data = {"actorId": run.act_id, "actorRunId": run.id}
    if run.actor_task_id is not None:
        data["actorTaskId"] = run.actor_task_id
    return data


def build_event_data(build: Build) -> dict[str, Any]:
    return {"actorId": build.act_id, "actorBuildId": build.id}


def dispatch_row(
    webhook_id: str, user_id: str, event_type: str, event_data: Any, resource: Any, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "user_id": user_id,
        "webhook_id": webhook_id,
        "event_type": event_type,
        "event_data": event_data,
        "resource": resource,
        "status": ACTIVE,
        "calls": [],
        "claims": 0,
        "next_attempt_at": now,
        "lease_expires_at": None,
        "lease_owner": None,
        "created_at": now,
        "finished_at": None,
    }


def _matching(hooks: Sequence[Row[Any]], event_type: str) -> list[Row[Any]]:
    return [hook for hook in hooks if event_type in (hook.event_types or ())]


def _rows(hooks: list[Row[Any]], event_type: str, data: Any, resource: Any) -> list[dict[str, Any]]:
    now = utcnow()
    return [dispatch_row(h.id, h.user_id, event_type, data, resource, now) for h in hooks]


def fire_run_sync(connection: Connection, event_type: str, run_id: str, run: Run | None = None) -> list[str]:
    """In the worker's transaction: the run's dispatches for this event; their ids. `run` as written
    in this transaction, if the caller has it (else it is read)."""
    params = {"run_id": run_id, "event_type": event_type}
    hooks = _matching(connection.execute(MATCH_RUN, params).all(), event_type)
    if not hooks:
        return []
    if run is None:
        run = Run(**connection.execute(RUN_ROW, params).one()._mapping)
    rows = _rows(hooks, event_type, run_event_data(run), run_json(run))
    connection.execute(INSERT_DISPATCH, rows)
    return [row["id"] for row in rows]


def fire_build_sync(
    connection: Connection, event_type: str, build_id: str, build: Build | None = None
) -> list[str]:
    """As fire_run_sync, for a build (`build` as flushed in this transaction, else it is read)."""
    params = {"build_id": build_id, "event_type": event_type}
    hooks = _matching(connection.execute(MATCH_BUILD, params).all(), event_type)
    if not hooks:
        return []
    if build is None:
        build = Build(**connection.execute(BUILD_ROW, params).one()._mapping)
    rows = _rows(hooks, event_type, build_event_data(build), build_json(build))
    connection.execute(INSERT_DISPATCH, rows)
    return [row["id"] for row in rows]


def fire_run(session: Session, event_type: str, run_id: str, run: Run | None = None) -> list[str]:
    """In the API's transaction: fire_run_sync, with the ids also kept in session.info for after the
    commit. Sync, as the run start's transaction is (an async session calls it through run_sync)."""
    ids = fire_run_sync(session.connection(), event_type, run_id, run)
    session.info.setdefault(NEW_DISPATCHES, []).extend(ids)
    return ids


async def fire_build(
    session: AsyncSession, event_type: str, build_id: str, build: Build | None = None
) -> list[str]:
    """In the API's transaction: fire_build_sync, with the ids also kept in session.info for after
    the commit."""
    ids = await session.run_sync(lambda sync: fire_build_sync(sync.connection(), event_type, build_id, build))
    session.info.setdefault(NEW_DISPATCHES, []).extend(ids)
    return ids
