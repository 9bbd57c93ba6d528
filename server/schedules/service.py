"""Schedules' use cases: create, read, list, update, delete, and a schedule's log.

A schedule's next due time is worked out when it is created, enabled or given another expression or
timezone, always from now: a schedule never fires for a time before it was made or enabled. While
disabled it has none. The sweepers fire due schedules (firing.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import InvalidInput, LimitExceeded, NameNotUnique, NotFound
from server.lifespan import AppState
from server.schedules.cron import Cron, InvalidCron
from server.schedules.shapes import RUN_ACTOR, RUN_ACTOR_TASK
from server.services.resolve import get_actor, get_task
from server.services.validation import TITLE_MAX_CHARS, check_name, check_run_options, check_text
from server.settings import Settings
from server.storage.ids import new_id, utcnow
from server.storage.models import Schedule, ScheduleInvocation, User

MAX_ACTIONS = 10  # per schedule
DESCRIPTION_MAX_CHARS = 4096
LOG_ENTRIES = 100  # GET .../log: the newest


def _cron(expression: Any, timezone: Any) -> Cron:
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput('Schedule \'cronExpression\' is required: e.g. "0 8 * * *" or "@daily".')
    if not isinstance(timezone, str):
        raise InvalidInput("Schedule 'timezone' must be an IANA time zone name, e.g. \"UTC\".")
    try:
        return Cron(expression, timezone)
    except InvalidCron as exc:
        raise InvalidInput(str(exc)) from exc


def _flag(body: dict[str, Any], field: str, default: bool) -> bool:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(f"Schedule '{field}' must be true or false.")
    return value


async def _actions(session: AsyncSession, user: User, settings: Settings, value: Any) -> list[dict[str, Any]]:
    """The actions as stored: each with an id, its actor or task resolved (404 if not the user's)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ACTIONS:
        raise InvalidInput(f"Schedule 'actions' must be an array of at most {MAX_ACTIONS} actions.")
    actions = []
    for i, action in enumerate(value):
        where = f"actions[{i}]"
        if not isinstance(action, dict):
            raise InvalidInput(f"Schedule '{where}' must be a JSON object.")
        kind = action.get("type")
        if kind == RUN_ACTOR:
            actor = await get_actor(session, user, _ref(action, "actorId", where))
            run_input = action.get("runInput")
            if run_input is not None and not (
                isinstance(run_input, dict)
                and isinstance(run_input.get("body"), str | None)
                and isinstance(run_input.get("contentType"), str | None)
            ):
                raise InvalidInput(
                    f'Schedule \'{where}.runInput\' must be {{"body": ..., "contentType": ...}}.'
                )
            options = check_run_options(action.get("runOptions"), settings, f"{where}.runOptions")
            actions.append(
                {
                    "id": action.get("id") or new_id(),
                    "type": RUN_ACTOR,
                    "actorId": actor.id,
                    "runInput": run_input,
                    "runOptions": options or None,
                }
            )
        elif kind == RUN_ACTOR_TASK:
            task = await get_task(session, user, _ref(action, "actorTaskId", where))
            task_input = action.get("input")
            if task_input is not None and not isinstance(task_input, dict):
                raise InvalidInput(f"Schedule '{where}.input' must be a JSON object.")
            actions.append(
                {
                    "id": action.get("id") or new_id(),
                    "type": RUN_ACTOR_TASK,
                    "actorTaskId": task.id,
                    "input": task_input,
                }
            )
        else:
            raise InvalidInput(f"Schedule '{where}.type' must be {RUN_ACTOR} or {RUN_ACTOR_TASK}.")
    return actions


def _ref(action: dict[str, Any], field: str, where: str) -> str:
    ref = action.get(field)
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(f"Schedule '{where}.{field}' is required.")
    return ref


def _next_run_at(schedule: Schedule, now: datetime) -> datetime | None:
    if not schedule.is_enabled:
        return None
    return Cron(schedule.cron_expression, schedule.timezone).next_after(now)


async def create_schedule(state: AppState, user: User, body: dict[str, Any]) -> Schedule:
    cron = _cron(body.get("cronExpression"), body.get("timezone") or "UTC")
    now = utcnow()
    async with state.db.transaction() as session:
        await _check_room(session, state.settings, user)
        schedule = Schedule(
            id=new_id(),
            user_id=user.id,
            name=check_name(body.get("name"), "Schedule") if body.get("name") is not None else None,
            title=check_text(body.get("title"), "title", TITLE_MAX_CHARS),
            description=check_text(body.get("description"), "description", DESCRIPTION_MAX_CHARS),
            cron_expression=cron.expression,
            timezone=cron.timezone,
            is_enabled=_flag(body, "isEnabled", True),
            is_exclusive=_flag(body, "isExclusive", False),
            actions=await _actions(session, user, state.settings, body.get("actions")),
            notifications=_notifications(body.get("notifications")),
            last_run_ids=[],
            created_at=now,
            modified_at=now,
        )
        schedule.name = schedule.name or f"schedule-{schedule.id.lower()}"
        schedule.next_run_at = _next_run_at(schedule, now)
        session.add(schedule)
        await _flush_unique(session)
    return schedule


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise NameNotUnique("schedule-name-not-unique") from exc


async def _count(session: AsyncSession, user: User) -> int:
    stmt = select(func.count()).select_from(Schedule).where(Schedule.user_id == user.id)
    return int((await session.execute(stmt)).scalar_one())


async def _check_room(session: AsyncSession, settings: Settings, user: User) -> None:
    limit = settings.max_schedules_per_user
    if limit and await _count(session, user) >= limit:
        raise LimitExceeded(
            "too-many-schedules",
            f"This user has {limit} schedules, the most allowed (GREENROOM_MAX_SCHEDULES_PER_USER); "
            "delete one to create another.",
        )


def _notifications(value: Any) -> dict[str, Any]:
    if value is None:
        return {"email": False}
    if not isinstance(value, dict) or not isinstance(value.get("email", False), bool):
        raise InvalidInput("Schedule 'notifications' must be {\"email\": true or false}.")
    return {"email": bool(value.get("email", False))}


async def _get(session: AsyncSession, user: User, ref: str) -> Schedule:
    """By id, or by the user's own name (`name`, `~name` or `username~name`)."""
    owner, _, name = ref.rpartition("~")
    if owner not in ("", user.username):  # another user's: never theirs to see (404, not 403)
        name = ""
    stmt = select(Schedule).where(Schedule.user_id == user.id, (Schedule.id == ref) | (Schedule.name == name))
    schedule = (await session.execute(stmt)).scalars().first()
    if schedule is None:
        raise NotFound("Schedule was not found", error_type="record-not-found")
    return schedule


async def get_schedule(state: AppState, user: User, ref: str) -> Schedule:
    async with state.db.read() as session:
        return await _get(session, user, ref)


async def list_schedules(
    state: AppState, user: User, offset: int, limit: int, desc: bool
) -> tuple[int, list[Schedule]]:
    async with state.db.read() as session:
        total = await _count(session, user)
        order = Schedule.created_at.desc() if desc else Schedule.created_at.asc()
        stmt = select(Schedule).where(Schedule.user_id == user.id).order_by(order, Schedule.id)
        rows = (await session.execute(stmt.offset(offset).limit(limit))).scalars().all()
    return total, list(rows)


async def update_schedule(state: AppState, user: User, ref: str, body: dict[str, Any]) -> Schedule:
    """The fields the body names; a new expression, timezone or enabling sets the next due time from now."""
    now = utcnow()
    async with state.db.transaction() as session:
        schedule = await _get(session, user, ref)
        timing = (schedule.cron_expression, schedule.timezone, schedule.is_enabled)
        if "cronExpression" in body or "timezone" in body:
            cron = _cron(
                body.get("cronExpression", schedule.cron_expression),
                body.get("timezone") or schedule.timezone,
            )
            schedule.cron_expression, schedule.timezone = cron.expression, cron.timezone
        if "name" in body:
            schedule.name = check_name(body["name"], "Schedule")
        if "title" in body:
            schedule.title = check_text(body["title"], "title", TITLE_MAX_CHARS)
        if "description" in body:
            schedule.description = check_text(body["description"], "description", DESCRIPTION_MAX_CHARS)
        schedule.is_enabled = _flag(body, "isEnabled", schedule.is_enabled)
        schedule.is_exclusive = _flag(body, "isExclusive", schedule.is_exclusive)
        if "actions" in body:
            schedule.actions = await _actions(session, user, state.settings, body["actions"])
        if "notifications" in body:
            schedule.notifications = _notifications(body["notifications"])
        if (schedule.cron_expression, schedule.timezone, schedule.is_enabled) != timing:
            schedule.next_run_at = _next_run_at(schedule, now)
        schedule.modified_at = now
        await _flush_unique(session)
    return schedule


async def delete_schedule(state: AppState, user: User, ref: str) -> None:
    async with state.db.transaction() as session:
        schedule = await _get(session, user, ref)
        await session.execute(delete(Schedule).where(Schedule.id == schedule.id))


async def schedule_log(state: AppState, user: User, ref: str) -> list[ScheduleInvocation]:
    """The schedule's newest LOG_ENTRIES invocations, oldest first."""
    async with state.db.read() as session:
        schedule = await _get(session, user, ref)
        stmt = (
            select(ScheduleInvocation)
            .where(ScheduleInvocation.schedule_id == schedule.id)
            .order_by(ScheduleInvocation.due_at.desc())
            .limit(LOG_ENTRIES)
        )
        rows = (await session.execute(stmt)).scalars().all()
    return list(reversed(rows))
