"""POST /v2/actor-runs/:runId/abort and /resurrect, and an actor's or task's runs/last/abort."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.params import parse_bool, run_overrides
from server.api.run_lists import find_last_run
from server.errors import ApiError
from server.lifespan import state_of
from server.responses import data_response
from server.services.resolve import get_run
from server.services.run_control import abort_run, resurrect_run
from server.services.waiting import read_run
from server.shapes import run_json
from server.storage.models import Actor, Run, User


async def abort(request: Request) -> Response:
    """gracefully=true: SIGTERM, then SIGKILL after the grace period; otherwise killed at once."""
    return await _abort(request, lambda session, user: get_run(session, user, request.path_params["runId"]))


async def abort_last(request: Request) -> Response:
    """POST /v2/acts/:actorId/runs/last/abort (and a task's): the last run (of `status`, if given)."""
    return await _abort(request, lambda session, user: find_last_run(request, session, user))


async def _abort(request: Request, find: Callable[[AsyncSession, User], Awaitable[Run]]) -> Response:
    state = state_of(request)
    gracefully = bool(parse_bool(request.query_params, "gracefully"))
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run = await find(session, user)
    await abort_run(state, run, gracefully)
    return data_response(run_json(await read_run(state, run.id)))


async def resurrect(request: Request) -> Response:
    state = state_of(request)
    overrides = run_overrides(request.query_params, state.settings)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run = await get_run(session, user, request.path_params["runId"])
        actor = (await session.execute(select(Actor).where(Actor.id == run.act_id))).scalar_one()
    if not await resurrect_run(state, run, actor, overrides):
        raise ApiError(
            f"Only a finished run can be resurrected (run ID: {run.id}, status: {run.status})",
            status_code=400,
            error_type="invalid-request",  # Apify's ErrorType has no narrower one
        )
    return data_response(run_json(await read_run(state, run.id)))
