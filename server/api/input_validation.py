"""POST /v2/acts/:actorId/validate-input: the body checked as a run of the build would check it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.runs import actor_input
from server.errors import InvalidInput
from server.lifespan import state_of
from server.responses import raw_json_response
from server.services.input_schemas import validate_input
from server.services.resolve import get_actor


async def validate(request: Request) -> Response:
    """`build` (tag or number) else the actor's default run build, else `latest`; 200 `{"valid":
    true}` (no `data` envelope: Apify's spec) or the 400 a run start would answer."""
    state = state_of(request)
    build = request.query_params.get("build")
    # A NUL reached PostgreSQL's text comparison and failed there (a 500, found by schemathesis).
    if build is not None and (not build.strip() or "\x00" in build):
        raise InvalidInput("Parameter 'build' must be a build tag or number.")
    async with state.db.read() as session:
        user = await authenticate(request, session)
        actor = await get_actor(session, user, request.path_params["actorId"])
    given = await actor_input(request, state)
    tag = build or actor.default_run_options.get("build") or "latest"
    await validate_input(
        state.db, actor, tag, given.body if given else None, given.content_type if given else ""
    )
    return raw_json_response({"valid": True})
