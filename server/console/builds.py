"""A build's page: its status and its log (followed while it builds)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from server.console.guard import console_page
from server.console.templating import page
from server.lifespan import state_of
from server.services.builds import get_build
from server.services.log_follow import follow, strip_ansi
from server.storage.logs import BUILD_LOG
from server.storage.models import Actor, User


@console_page
async def show_build(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        build = await get_build(session, user, request.path_params["buildId"])
        actor = (await session.execute(select(Actor).where(Actor.id == build.act_id))).scalar_one()
    return page(request, "build.html", user, build=build, actor=actor)


@console_page
async def build_log(request: Request, user: User, form: FormData) -> Response:
    state = state_of(request)
    async with state.db.read() as session:
        build = await get_build(session, user, request.path_params["buildId"])
    return StreamingResponse(
        follow(state, build.id, strip_ansi, BUILD_LOG),
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
        media_type="text/plain; charset=utf-8",
    )
