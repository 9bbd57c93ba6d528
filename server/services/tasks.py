"""Tasks: creating one (the API's POST /v2/actor-tasks and the console's form)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from server.errors import InvalidInput, NameNotUnique
from server.lifespan import AppState
from server.services.input_schemas import check_task_input
from server.services.resolve import get_actor, get_task
from server.services.validation import TITLE_MAX_CHARS, check_name, check_run_options, check_text
from server.storage.ids import utcnow
from server.storage.models import Actor, Task, User


async def create_task(state: AppState, user: User, body: dict[str, Any]) -> tuple[Task, Actor]:
    """Check the body (actId, name, title, options, input against the actor's schema), then insert."""
    act_ref = body.get("actId")
    if not isinstance(act_ref, str) or not act_ref:
        raise InvalidInput("Task 'actId' is required.")
    task_input = body.get("input")
    if task_input is not None and not isinstance(task_input, dict):
        raise InvalidInput("Task 'input' must be a JSON object.")
    async with state.db.transaction() as session:
        actor = await get_actor(session, user, act_ref)
        task = Task(
            user_id=user.id,
            act_id=actor.id,
            name=check_name(body.get("name"), "Task"),
            title=check_text(body.get("title"), "title", TITLE_MAX_CHARS),
            options=check_run_options(body.get("options"), state.settings, "options"),
            input=task_input,
        )
        if task.input is not None:
            await session.run_sync(check_task_input, actor, task.options, task.input)
        session.add(task)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise NameNotUnique("actor-task-name-not-unique") from exc
    return task, actor


async def update_task_input(
    state: AppState, user: User, task_id: str, task_input: dict[str, Any], options: dict[str, Any]
) -> None:
    """Replace the task's input (checked against its actor's schema) and lay `options` over its options."""
    async with state.db.transaction() as session:
        task = await get_task(session, user, task_id)
        actor = await get_actor(session, user, task.act_id)
        merged = check_run_options(dict(task.options or {}) | options, state.settings, "options")
        await session.run_sync(check_task_input, actor, merged, task_input)
        task.input = task_input
        task.options = merged
        task.modified_at = utcnow()
