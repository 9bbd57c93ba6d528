"""Actors: the list, an actor's page (versions, builds, runs, the Run form), starting a run."""

from __future__ import annotations

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.guard import console_page
from server.console.input_form import JSON_FIELD, fields, schema_properties
from server.console.starting import start_from_form
from server.console.templating import page
from server.lifespan import state_of
from server.services.resolve import get_actor
from server.standby.config import enabled_standby_url
from server.storage.models import Actor, Build, Run, User


@console_page
async def list_actors(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        stmt = select(Actor).where(Actor.user_id == user.id).order_by(Actor.created_at.desc())
        actors = (await session.execute(stmt)).scalars().all()
    return page(request, "actors.html", user, actors=actors)


@console_page
async def show_actor(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
        builds_stmt = (
            select(Build).where(Build.act_id == actor.id).order_by(Build.started_at.desc()).limit(20)
        )
        builds = (await session.execute(builds_stmt)).scalars().all()
        runs_stmt = select(Run).where(Run.act_id == actor.id, Run.user_id == user.id)
        runs = (await session.execute(runs_stmt.order_by(Run.started_at.desc()).limit(20))).scalars().all()
        properties = await schema_properties(session, actor)
    return page(
        request,
        "actor.html",
        user,
        actor=actor,
        builds=builds,
        runs=runs,
        fields=fields(properties, None) if properties is not None else None,
        json_field=JSON_FIELD,
        options=actor.default_run_options or {},
        action=f"/actors/{actor.id}/run",
        standby_url=enabled_standby_url(
            state_of(request).settings, user.username, actor.name, actor.actor_standby
        ),
    )


@console_page
async def run_actor(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
    run = await start_from_form(request, user, actor, None, form)
    return RedirectResponse(f"/runs/{run.id}", 303)
