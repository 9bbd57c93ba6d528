"""Firing due schedules: a step of every sweep (server/sweeper/sweep.py), so every worker pool and API
process may do it, one at a time while the sweeper lock holds.

SQL decides, not the lock: a due time is fired in one transaction that moves the schedule's next due
time on by compare-and-set (a second sweeper, or an update or a disable committed meanwhile, finds
it moved and rolls back), starts the actions' runs, and writes the due time's log entry, whose
primary key (schedule_id, due_at) backs the claim. The runs' jobs are enqueued after the
commit, as every start's.

A due time missed while nothing swept (an outage) fires late, once, when the sweeps resume, unless
it is more than GREENROOM_SCHEDULE_MAX_LATE_S late: then it is logged as missed. Due times passed
meanwhile are not fired one by one; the next is worked out from now.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.queue import enqueue_new_dispatches_sync, enqueue_run_sync, make_queue
from server.run_options import RunOverrides
from server.schedules.cron import Cron
from server.schedules.shapes import RUN_ACTOR_TASK
from server.services.runs import RunInput, RunMeta, RunStart, write_run
from server.settings import Settings
from server.statuses import TERMINAL
from server.storage.dialects import insert_for
from server.storage.ids import aware, new_id, utcnow
from server.storage.models import Actor, Run, Schedule, ScheduleInvocation, Task
from server.sweeper.context import SweepContext

log = logging.getLogger(__name__)

BATCH = 100  # due schedules per sweep; the rest at the next
JSON_UTF8 = "application/json; charset=utf-8"
SCHEDULER = "SCHEDULER"


class _Taken(Exception):
    """Another sweeper fired this due time, or the schedule changed since it was read."""


def fire_due(ctx: SweepContext, queue: Queue, now: datetime | None = None) -> list[str]:
    """Fire every schedule due by `now`; the runs started (their jobs enqueued)."""
    now = now or utcnow()
    due = (
        select(Schedule.id)
        .where(Schedule.is_enabled.is_(True), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at)
        .limit(BATCH)
    )
    with ctx.db.begin() as connection:
        schedule_ids = list(connection.execute(due).scalars())
    started: list[str] = []
    for schedule_id in schedule_ids:
        try:
            with ctx.db.transaction() as session:
                runs, dispatches = _fire(session, ctx.settings, ctx.db.dialect, schedule_id, now)
        except _Taken:
            continue
        try:  # committed: a run whose job is lost here is enqueued again by a later sweep
            for run_id in runs:
                enqueue_run_sync(queue, run_id)
            if dispatches:
                enqueue_new_dispatches_sync(
                    make_queue(ctx.redis, ctx.settings.webhook_queue_name), dispatches
                )
        except RedisError as exc:
            log.warning("schedule %s: could not enqueue %s (%s); the sweeper will", schedule_id, runs, exc)
        started += runs
    return started


def _fire(
    session: Session, settings: Settings, dialect: str, schedule_id: str, now: datetime
) -> tuple[list[str], list[str]]:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or not schedule.is_enabled or schedule.next_run_at is None:
        raise _Taken
    due = aware(schedule.next_run_at)
    if due > now:
        raise _Taken
    # The claim: the next due time moved on by compare-and-set. A second sweeper (or an update of
    # the schedule) committed first finds it moved, and this firing rolls back.
    following = Cron(schedule.cron_expression, schedule.timezone).next_after(max(now, due))
    moved = session.execute(
        update(Schedule)
        .where(Schedule.id == schedule.id, Schedule.next_run_at == schedule.next_run_at)
        .values(next_run_at=following)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise _Taken
    level, message, runs, dispatches = _invoke(session, settings, dialect, schedule, due, now)
    # Its primary key (schedule, due time) backs the claim: a due time is logged, hence fired, once.
    entry = {"schedule_id": schedule.id, "due_at": due, "created_at": now}
    logged = insert_for(dialect)(ScheduleInvocation).values(
        **entry, level=level, message=message, run_ids=runs
    )
    if session.execute(logged.on_conflict_do_nothing().returning(ScheduleInvocation.due_at)).first() is None:
        raise _Taken
    if runs:
        session.execute(
            update(Schedule).where(Schedule.id == schedule.id).values(last_run_at=now, last_run_ids=runs)
        )
    log.info("schedule %s due at %s: %s", schedule.id, due.isoformat(), message)
    return runs, dispatches


def _invoke(
    session: Session, settings: Settings, dialect: str, schedule: Schedule, due: datetime, now: datetime
) -> tuple[str, str, list[str], list[str]]:
    """(level, message, run ids, dispatch ids) of one due time."""
    late_s = (now - due).total_seconds()
    if late_s > settings.schedule_max_late_s:
        return (
            "WARNING",
            (
                f"Missed: due at {due.isoformat()}, {late_s:.0f} s ago, later than "
                f"GREENROOM_SCHEDULE_MAX_LATE_S ({settings.schedule_max_late_s:g} s) allows; no run started"
            ),
            [],
            [],
        )
    if schedule.is_exclusive and schedule.last_run_ids:
        going = (
            session.execute(
                select(Run.id).where(
                    Run.id.in_(schedule.last_run_ids), Run.status.not_in([s.value for s in TERMINAL])
                )
            )
            .scalars()
            .all()
        )
        if going:
            return (
                "INFO",
                (f"Skipped (isExclusive): the runs it started last are still going: {', '.join(going)}"),
                [],
                [],
            )
    runs: list[str] = []
    dispatches: list[str] = []
    notes: list[str] = []
    for action in schedule.actions:
        try:
            with session.begin_nested():  # one action's refusal leaves the others' runs
                start = _start(session, schedule, action, due)
                run, fired = write_run(session, settings, dialect, start)
        except ApiError as exc:
            notes.append(f"{_target(action)}: not started: {exc.message}")
            continue
        runs.append(run.id)
        dispatches += fired or []
        notes.append(f"{_target(action)}: run {run.id}")
    if not schedule.actions:
        notes.append("no actions")
    level = "ERROR" if len(runs) < len(schedule.actions) else "INFO"
    return level, "Schedule invoked: " + "; ".join(notes), runs, dispatches


def _target(action: dict[str, Any]) -> str:
    if action["type"] == RUN_ACTOR_TASK:
        return f"task {action['actorTaskId']}"
    return f"actor {action['actorId']}"


def _start(session: Session, schedule: Schedule, action: dict[str, Any], due: datetime) -> RunStart:
    """What an action starts, read now: the task's input with the action's laid over it, or the
    actor with the action's input and options."""
    meta = RunMeta(origin=SCHEDULER, schedule_id=schedule.id, scheduled_at=due)
    if action["type"] == RUN_ACTOR_TASK:
        task = session.get(Task, action["actorTaskId"])
        actor = session.get(Actor, task.act_id) if task is not None else None
        if task is None or actor is None or task.user_id != schedule.user_id:
            raise ApiError(f"Actor task {action['actorTaskId']} was not found", status_code=404)
        merged = dict(task.input or {}) | dict(action.get("input") or {})
        task_input = RunInput(json.dumps(merged, ensure_ascii=False).encode(), JSON_UTF8)
        return RunStart(schedule.user_id, actor, task, RunOverrides(), task_input, meta, new_id())
    actor = session.get(Actor, action["actorId"])
    if actor is None or actor.user_id != schedule.user_id:
        raise ApiError(f"Actor {action['actorId']} was not found", status_code=404)
    given = action.get("runInput") or {}
    body = given.get("body")
    run_input = RunInput(body.encode(), given.get("contentType") or JSON_UTF8) if body is not None else None
    options = action.get("runOptions") or {}
    overrides = RunOverrides(
        timeout_s=options.get("timeoutSecs"),
        memory_mbytes=options.get("memoryMbytes"),
        build=options.get("build"),
        max_items=options.get("maxItems"),
        max_total_charge_usd=options.get("maxTotalChargeUsd"),
        restart_on_error=options.get("restartOnError"),
    )
    return RunStart(schedule.user_id, actor, None, overrides, run_input, meta, new_id())
