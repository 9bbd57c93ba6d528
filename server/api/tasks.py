"""/v2/actor-tasks: create, get, update, delete, input."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json, read_json_object
from server.api.pagination import page_params, paginated
from server.errors import InvalidInput, InvalidRequest, NameNotUnique
from server.lifespan import state_of
from server.responses import data_response, raw_json_response
from server.services.input_schemas import check_task_input
from server.services.resolve import get_task
from server.services.tasks import create_task
from server.services.validation import TITLE_MAX_CHARS, check_name, check_run_options, check_text
from server.shapes import task_json
from server.storage.ids import utcnow
from server.storage.models import Actor, Task, User


def _check_input(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise InvalidInput("Task 'input' must be a JSON object.")
    return value


async def _actor_of(session: AsyncSession, task: Task) -> Actor:
    return (await session.execute(select(Actor).where(Actor.id == task.act_id))).scalar_one()


async def _flush_named(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise NameNotUnique("actor-task-name-not-unique") from exc


async def create(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    task, actor = await create_task(state, user, body)
    location = f"{state.settings.api_base_url}/v2/actor-tasks/{task.id}"
    return data_response(task_json(task, user, actor), 201, location)


async def get(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        task = await get_task(session, user, request.path_params["actorTaskId"])
        actor = await _actor_of(session, task)
    return data_response(task_json(task, user, actor))


async def list_(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    page = page_params(request)
    async with state.db.read() as session:
        total_stmt = select(func.count()).select_from(Task).where(Task.user_id == user.id)
        total = (await session.execute(total_stmt)).scalar_one()
        stmt = page.apply(select(Task, Actor).join(Actor, Actor.id == Task.act_id), Task.created_at)
        rows = (await session.execute(stmt.where(Task.user_id == user.id))).all()
    return paginated(page, total, [task_json(t, user, a) for t, a in rows])


def _apply_update(task: Task, body: dict[str, Any], user: User, request: Request) -> None:
    settings = state_of(request).settings
    if "name" in body:
        task.name = check_name(body["name"], "Task")
    if "title" in body:
        task.title = check_text(body["title"], "title", TITLE_MAX_CHARS)
    if "options" in body:
        task.options = dict(task.options) | check_run_options(body["options"], settings, "options")
    if "input" in body:
        task.input = _check_input(body["input"])
    task.modified_at = utcnow()


async def update(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    async with state.db.transaction() as session:
        task = await get_task(session, user, request.path_params["actorTaskId"])
        _apply_update(task, body, user, request)
        await _flush_named(session)
        actor = await _actor_of(session, task)
        if "input" in body and task.input is not None:  # rolled back with the update if refused
            await session.run_sync(check_task_input, actor, task.options, task.input)
    return data_response(task_json(task, user, actor))


async def delete_(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.transaction() as session:
        task = await get_task(session, user, request.path_params["actorTaskId"])
        await session.execute(delete(Task).where(Task.id == task.id))
    return Response(status_code=204)


async def get_input(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        task = await get_task(session, user, request.path_params["actorTaskId"])
    return raw_json_response(task.input or {})


async def put_input(request: Request) -> Response:
    """Keys in the body replace the stored ones; keys it does not name are kept."""
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json(request, state.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidRequest("POST data must be a JSON object")
    async with state.db.transaction() as session:
        task = await get_task(session, user, request.path_params["actorTaskId"])
        task.input = dict(task.input or {}) | body
        await session.run_sync(check_task_input, await _actor_of(session, task), task.options, task.input)
        task.modified_at = utcnow()
    return raw_json_response(task.input)
