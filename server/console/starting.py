"""Starting a run from a console form: the input (fields or JSON), and the run options."""

from __future__ import annotations

import json

from starlette.datastructures import FormData
from starlette.requests import Request

from server.console.input_form import read_input, schema_properties
from server.errors import InvalidInput
from server.lifespan import state_of
from server.run_options import RunOverrides, check_memory, check_timeout
from server.services.runs import RunInput, RunMeta, start_run
from server.storage.models import Actor, Run, Task, User

JSON_UTF8 = "application/json; charset=utf-8"


def _int(form: FormData, name: str) -> int | None:
    raw = form.get(name)
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"Run option '{name}' must be a whole number.") from None


def run_overrides(form: FormData, request: Request) -> RunOverrides:
    memory = _int(form, "memory")
    timeout = _int(form, "timeout")
    build = form.get("build")
    settings = state_of(request).settings
    return RunOverrides(
        timeout_s=None if timeout is None else check_timeout(timeout, settings, "Run option 'timeout'"),
        memory_mbytes=None if memory is None else check_memory(memory, settings),
        build=build.strip() if isinstance(build, str) and build.strip() else None,
    )


async def start_from_form(
    request: Request, user: User, actor: Actor, task: Task | None, form: FormData
) -> Run:
    state = state_of(request)
    overrides = run_overrides(form, request)
    async with state.db.read() as session:
        properties = await schema_properties(session, actor, overrides.build or "latest")
    given = read_input(form, properties, state.settings)
    if task is not None:
        given = dict(task.input or {}) | given
    client = request.client.host if request.client else None
    meta = RunMeta(origin="WEB", client_ip=client, user_agent=request.headers.get("user-agent"))
    body = RunInput(json.dumps(given, ensure_ascii=False).encode(), JSON_UTF8)
    return (await start_run(state, user, actor, task, overrides, body, meta)).run
