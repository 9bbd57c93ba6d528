"""Schedules: the list with a new-schedule form, and a schedule's page with its log and a switch to
enable or disable it. The API's use cases (server/schedules/service.py) do the work."""

from __future__ import annotations

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.guard import console_page
from server.console.templating import page
from server.lifespan import state_of
from server.schedules.service import (
    create_schedule,
    get_schedule,
    list_schedules,
    schedule_log,
    update_schedule,
)
from server.schedules.shapes import RUN_ACTOR_TASK
from server.storage.models import Task, User


@console_page
async def list_(request: Request, user: User, form: FormData) -> Response:
    state = state_of(request)
    _total, schedules = await list_schedules(state, user, 0, 1000, True)
    async with state.db.read() as session:
        stmt = select(Task).where(Task.user_id == user.id).order_by(Task.name)
        tasks = (await session.execute(stmt)).scalars().all()
    return page(request, "schedules.html", user, schedules=schedules, tasks=tasks)


@console_page
async def create(request: Request, user: User, form: FormData) -> Response:
    body = {
        "name": form.get("name") or None,
        "cronExpression": form.get("cron"),
        "timezone": form.get("timezone") or "UTC",
        "isEnabled": form.get("enabled") == "on",
        "actions": [{"type": RUN_ACTOR_TASK, "actorTaskId": form.get("task")}],
    }
    schedule = await create_schedule(state_of(request), user, body)
    return RedirectResponse(f"/schedules/{schedule.id}", 303)


@console_page
async def show(request: Request, user: User, form: FormData) -> Response:
    state = state_of(request)
    schedule = await get_schedule(state, user, request.path_params["scheduleId"])
    log = await schedule_log(state, user, schedule.id)
    return page(request, "schedule.html", user, schedule=schedule, log=list(reversed(log)))


@console_page
async def switch(request: Request, user: User, form: FormData) -> Response:
    schedule_id = request.path_params["scheduleId"]
    enabled = form.get("enabled") == "true"
    await update_schedule(state_of(request), user, schedule_id, {"isEnabled": enabled})
    return RedirectResponse(f"/schedules/{schedule_id}", 303)
