"""A schedule and its log as Apify's API has them (Schedule, ScheduleShort, ScheduleInvoked)."""

from __future__ import annotations

from typing import Any

from server.storage.ids import iso
from server.storage.models import Schedule, ScheduleInvocation

RUN_ACTOR = "RUN_ACTOR"
RUN_ACTOR_TASK = "RUN_ACTOR_TASK"


def schedule_json(schedule: Schedule, *, short: bool = False) -> dict[str, Any]:
    """Apify's Schedule; `short`: ScheduleShort, as lists have it (actions as id, type and target)."""
    data: dict[str, Any] = {
        "id": schedule.id,
        "userId": schedule.user_id,
        "name": schedule.name,
        "cronExpression": schedule.cron_expression,
        "timezone": schedule.timezone,
        "isEnabled": schedule.is_enabled,
        "isExclusive": schedule.is_exclusive,
        "createdAt": iso(schedule.created_at),
        "modifiedAt": iso(schedule.modified_at),
        "nextRunAt": iso(schedule.next_run_at),
        "lastRunAt": iso(schedule.last_run_at),
    }
    if short:
        target = ("actorId", "actorTaskId")
        data["actions"] = [{k: a[k] for k in ("id", "type", *target) if k in a} for a in schedule.actions]
        return data
    data |= {
        "title": schedule.title,
        "description": schedule.description,
        "notifications": schedule.notifications,
        "actions": schedule.actions,
    }
    return data


def invocation_json(invocation: ScheduleInvocation) -> dict[str, Any]:
    """Apify's ScheduleInvoked, with Greenroom's own dueAt and runIds beside."""
    return {
        "message": invocation.message,
        "level": invocation.level,
        "createdAt": iso(invocation.created_at),
        "dueAt": iso(invocation.due_at),
        "runIds": invocation.run_ids,
    }
