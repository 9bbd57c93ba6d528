"""Run logs: the whole log, or (stream=1) the log followed until the run ends.

Following is server/services/log_follow.py's (the console follows logs the same way).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from server.api.auth import authenticate
from server.api.params import parse_bool
from server.api.run_lists import find_last_run
from server.errors import NotFound
from server.lifespan import state_of
from server.services.builds import get_build
from server.services.log_follow import follow, keep, strip_ansi
from server.services.resolve import get_run
from server.storage.logs import BUILD_LOG, RUN_LOG, LogTable
from server.storage.models import Run

TEXT = "text/plain; charset=utf-8"


async def _respond(request: Request, run: Run) -> Response:
    return await respond(request, run.id, RUN_LOG)


async def respond(request: Request, log_id: str, table: LogTable) -> Response:
    """A run's or a build's log (table says which), whole or (stream=1) followed."""
    state = state_of(request)
    params = request.query_params
    stream, raw, download = (bool(parse_bool(params, name)) for name in ("stream", "raw", "download"))
    clean = keep if raw else strip_ansi
    headers = {"Content-Disposition": f'attachment; filename="{log_id}.log"'} if download else {}
    if stream:
        # A proxy (nginx) must pass each chunk on as it comes, not buffer the response.
        headers["X-Accel-Buffering"] = "no"
        return StreamingResponse(follow(state, log_id, clean, table), headers=headers, media_type=TEXT)
    async with state.db.read() as session:
        chunks = (await session.execute(table.read_after, {table.key: log_id, "after_seq": -1})).all()
    return Response(clean("".join(content for _, content in chunks)), headers=headers, media_type=TEXT)


async def get(request: Request) -> Response:
    """GET /actor-runs/:runId/log and /logs/:logId (a run's id, or a build's)."""
    state = state_of(request)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run_id = request.path_params.get("runId") or request.path_params["logId"]
        try:
            run = await get_run(session, user, run_id)
        except NotFound as missing:
            if "logId" not in request.path_params:
                raise
            try:
                build = await get_build(session, user, run_id)
            except NotFound:
                raise missing from None
            return await respond(request, build.id, BUILD_LOG)
    return await _respond(request, run)


async def last(request: Request) -> Response:
    """GET .../runs/last/log (status and origin pick the run)."""
    state = state_of(request)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run = await find_last_run(request, session, user)
    return await _respond(request, run)
