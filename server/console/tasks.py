"""Tasks: the list, a new task, a task's page (its input and options, the Run form), running it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server import strict_json
from server.console.guard import console_page
from server.console.input_form import JSON_FIELD, fields, read_input, schema_properties
from server.console.starting import start_from_form
from server.console.templating import page
from server.errors import InvalidInput, InvalidRequest
from server.lifespan import state_of
from server.services.resolve import get_actor, get_task
from server.services.tasks import create_task, update_task_input
from server.storage.models import Actor, Run, Task, User


@console_page
async def list_tasks(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        stmt = select(Task, Actor).join(Actor, Actor.id == Task.act_id).where(Task.user_id == user.id)
        tasks = (await session.execute(stmt.order_by(Task.created_at.desc()))).tuples().all()
        actors = (await session.execute(select(Actor).where(Actor.user_id == user.id))).scalars().all()
    return page(request, "tasks.html", user, tasks=tasks, actors=actors)


def _options(form: FormData) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for field, key in (("timeout", "timeoutSecs"), ("memory", "memoryMbytes")):
        raw = form.get(field)
        if isinstance(raw, str) and raw.strip():
            try:
                options[key] = int(raw)
            except ValueError:
                raise InvalidInput(f"Option '{field}' must be a whole number.") from None
    build = form.get("build")
    if isinstance(build, str) and build.strip():
        options["build"] = build.strip()
    return options


@console_page
async def create(request: Request, user: User, form: FormData) -> Response:
    raw = form.get(JSON_FIELD)
    try:
        task_input = (
            strict_json.loads(raw, state_of(request).settings)
            if isinstance(raw, str) and raw.strip()
            else None
        )
    except InvalidRequest as exc:
        raise InvalidInput(f"The input is not valid JSON: {exc.message}") from None
    body = {
        "actId": form.get("actor"),
        "name": form.get("name"),
        "input": task_input,
        "options": _options(form),
    }
    task, _ = await create_task(state_of(request), user, body)
    return RedirectResponse(f"/tasks/{task.id}", 303)


@console_page
async def show_task(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        task = await get_task(session, user, request.path_params["taskId"])
        actor = await get_actor(session, user, task.act_id)
        properties = await schema_properties(session, actor, str(task.options.get("build") or "latest"))
        stmt = select(Run).where(Run.actor_task_id == task.id, Run.user_id == user.id)
        runs = (await session.execute(stmt.order_by(Run.started_at.desc()).limit(20))).scalars().all()
    return page(
        request,
        "task.html",
        user,
        task=task,
        actor=actor,
        runs=runs,
        fields=fields(properties, task.input) if properties is not None else None,
        json_field=JSON_FIELD,
        input_json=json.dumps(task.input or {}, indent=2, ensure_ascii=False),
        options=task.options or {},
        action=f"/tasks/{task.id}/run",
    )


@console_page
async def run_task(request: Request, user: User, form: FormData) -> Response:
    """Run with the form's input laid over the task's (what the form shows is the task's input)."""
    async with state_of(request).db.read() as session:
        task = await get_task(session, user, request.path_params["taskId"])
        actor = await get_actor(session, user, task.act_id)
    run = await start_from_form(request, user, actor, task, form)
    return RedirectResponse(f"/runs/{run.id}", 303)


@console_page
async def save_input(request: Request, user: User, form: FormData) -> Response:
    """Save the form's input as the task's input (the same form as Run, its other button)."""
    async with state_of(request).db.read() as session:
        task = await get_task(session, user, request.path_params["taskId"])
        actor = await get_actor(session, user, task.act_id)
        properties = await schema_properties(session, actor, str(task.options.get("build") or "latest"))
    await update_task_input(
        state_of(request),
        user,
        task.id,
        read_input(form, properties, state_of(request).settings),
        _options(form),
    )
    return RedirectResponse(f"/tasks/{task.id}", 303)
