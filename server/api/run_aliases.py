"""Apify's deprecated spellings of a run under its actor: GET /v2/acts/:actorId/runs/:runId and
its /abort and /resurrect (also under /v2/actors).

Each checks that the run is the actor's (another actor's run, like an unknown one, is 404
record-not-found) and then answers exactly as /v2/actor-runs/:runId does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from server.api import run_control, runs
from server.api.auth import authenticate
from server.errors import NotFound
from server.lifespan import state_of
from server.services.resolve import get_actor, get_run

Endpoint = Callable[[Request], Awaitable[Response]]


def _of_actor(endpoint: Endpoint) -> Endpoint:
    async def handler(request: Request) -> Response:
        async with state_of(request).db.read() as session:
            user = await authenticate(request, session)
            actor = await get_actor(session, user, request.path_params["actorId"])
            run = await get_run(session, user, request.path_params["runId"])
        if run.act_id != actor.id:
            raise NotFound("Actor run was not found")
        return await endpoint(request)

    return handler


get = _of_actor(runs.get)
abort = _of_actor(run_control.abort)
resurrect = _of_actor(run_control.resurrect)
