"""/v2/acts and /v2/actors: create, get, list."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.api.pagination import page_params, paginated
from server.lifespan import state_of
from server.responses import data_response
from server.services.actors import create_actor
from server.services.resolve import get_actor
from server.services.validation import TITLE_MAX_CHARS, check_text
from server.shapes import actor_json
from server.storage.models import Actor


async def create(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    check_text(body.get("title"), "title", TITLE_MAX_CHARS)
    check_text(body.get("description"), "description")
    async with state.db.transaction() as session:
        actor = await create_actor(session, state.settings, user, body)
    location = f"{state.settings.api_base_url}/v2/acts/{actor.id}"
    return data_response(actor_json(actor, user), 201, location)


async def get(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
    return data_response(actor_json(actor, user))


async def list_(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    page = page_params(request)
    where = Actor.user_id == user.id
    async with state.db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Actor).where(where))).scalar_one()
        rows = (await session.execute(page.apply(select(Actor).where(where), Actor.created_at))).scalars()
        items = [actor_json(a, user) for a in rows]
    return paginated(page, total, items)
