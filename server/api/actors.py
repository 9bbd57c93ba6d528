"""/v2/acts and /v2/actors: create, list, get, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.api.pagination import page_params, paginated
from server.api.params import parse_bool
from server.errors import InvalidInput
from server.lifespan import state_of
from server.responses import data_response
from server.services.actor_stats import actor_stats
from server.services.actors import create_actor, delete_actor, update_actor
from server.services.builds import actor_change
from server.services.resolve import get_actor
from server.services.validation import TITLE_MAX_CHARS, check_text
from server.settings import Settings
from server.shapes import actor_json, actor_short_json
from server.standby.config import enabled_standby_url
from server.storage.models import Actor, Run, User

SORT_KEYS = ("createdAt", "stats.lastRunStartedAt")


def _actor_json(settings: Settings, actor: Actor, user: User, stats: dict[str, Any]) -> dict[str, Any]:
    standby = enabled_standby_url(settings, user.username, actor.name, actor.actor_standby)
    return actor_json(actor, user, stats, standby)


async def create(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    check_text(body.get("title"), "title", TITLE_MAX_CHARS)
    check_text(body.get("description"), "description")
    async with actor_change(state) as session:
        actor = await create_actor(session, state.settings, user, body)
        stats = await actor_stats(session, actor)  # its first builds are in the same transaction
    location = f"{state.settings.api_base_url}/v2/acts/{actor.id}"
    return data_response(
        _actor_json(state.settings, actor, user, stats),
        201,
        location,
    )


async def get(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
        stats = await actor_stats(session, actor)
    return data_response(_actor_json(state.settings, actor, user, stats))


async def list_(request: Request) -> Response:
    """Every actor a user sees is their own, so `my` (checked) filters nothing out."""
    state = state_of(request)
    user = await authenticate(request)
    page = page_params(request)
    parse_bool(request.query_params, "my")
    sort_by = request.query_params.get("sortBy") or "createdAt"
    if sort_by not in SORT_KEYS:
        raise InvalidInput(f"Parameter 'sortBy' must be one of {', '.join(SORT_KEYS)}.")
    runs = (
        select(
            Run.act_id,
            func.count().label("total_runs"),
            func.max(Run.started_at).label("last_run"),
        )
        .where(Run.user_id == user.id)
        .group_by(Run.act_id)
        .subquery()
    )
    order = _order(sort_by, page.desc, runs.c.last_run)
    where = Actor.user_id == user.id
    stmt = (
        select(Actor, runs.c.total_runs, runs.c.last_run)
        .outerjoin(runs, runs.c.act_id == Actor.id)
        .where(where)
        .order_by(*order)
        .offset(page.offset)
        .limit(page.limit)
    )
    async with state.db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Actor).where(where))).scalar_one()
        rows = (await session.execute(stmt)).all()
    items = [actor_short_json(a, user, total_runs or 0, last_run) for a, total_runs, last_run in rows]
    return paginated(page, total, items)


def _order(sort_by: str, desc: bool, last_run: Any) -> list[Any]:
    """createdAt (or the last run's start), then id: equal times keep one order across pages."""
    tie_break = [Actor.created_at, Actor.id]
    columns = [c.desc() if desc else c.asc() for c in tie_break]
    if sort_by == "createdAt":
        return columns
    # Actors that never ran come last in either direction.
    last = last_run.desc() if desc else last_run.asc()
    return [last.nulls_last(), *columns]


async def update(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    async with actor_change(state) as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
        await update_actor(session, state.settings, actor, body)
        stats = await actor_stats(session, actor)
    return data_response(_actor_json(state.settings, actor, user, stats))


async def delete_(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.transaction() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
        await delete_actor(session, actor)
    return Response(status_code=204)
