"""POST /v2/actor-runs/:runId/abort and /resurrect."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.params import parse_bool, run_overrides
from server.errors import ApiError
from server.lifespan import state_of
from server.responses import data_response
from server.services.resolve import get_run
from server.services.run_control import abort_run, resurrect_run
from server.services.waiting import read_run
from server.shapes import run_json
from server.storage.models import Actor


async def abort(request: Request) -> Response:
    """gracefully=true: SIGTERM, then SIGKILL after the grace period; otherwise killed at once."""
    state = state_of(request)
    gracefully = bool(parse_bool(request.query_params, "gracefully"))
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run = await get_run(session, user, request.path_params["runId"])
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
            error_type="run-not-finished",
        )
    return data_response(run_json(await read_run(state, run.id)))
