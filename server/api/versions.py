"""/v2/acts/:actorId/versions[/:versionNumber[/env-vars[/:envVarName]]] (both prefixes).

Every change to a version's source or env vars makes a new build at once (queued for a worker after
the commit); runs of the version's buildTag use it from then on (server/services/actors.py).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.lifespan import state_of
from server.responses import data_response
from server.services import actors as service
from server.services.builds import actor_change
from server.services.resolve import get_actor
from server.shapes import env_var_json, public_version


def _path(request: Request) -> tuple[str, str]:
    return request.path_params["actorId"], request.path_params["versionNumber"]


def _url(request: Request, *parts: str) -> str:
    base = state_of(request).settings.api_base_url
    return "/".join([f"{base}/v2/acts", *(quote(p, safe="") for p in parts)])


async def list_versions(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
    items = [public_version(v) for v in actor.versions]
    return data_response({"total": len(items), "items": items})


async def create_version(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    async with actor_change(state) as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
        version = await service.add_version(session, actor, body)
    location = _url(request, actor.id, "versions", version["versionNumber"])
    return data_response(public_version(version), 201, location)


async def get_version(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    async with state.db.read() as session:
        actor = await get_actor(session, user, actor_ref)
    return data_response(public_version(service.find_version(actor, number)))


async def update_version(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    async with actor_change(state) as session:
        actor = await get_actor(session, user, actor_ref)
        version = await service.update_version(session, actor, number, body)
    return data_response(public_version(version))


async def delete_version(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    async with state.db.transaction() as session:
        actor = await get_actor(session, user, actor_ref)
        await service.delete_version(session, actor, number)
    return Response(status_code=204)


async def list_env_vars(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    async with state.db.read() as session:
        actor = await get_actor(session, user, actor_ref)
    items = [env_var_json(v) for v in service.find_version(actor, number).get("envVars") or []]
    return data_response({"total": len(items), "items": items})


async def create_env_var(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    async with actor_change(state) as session:
        actor = await get_actor(session, user, actor_ref)
        var = await service.add_env_var(session, actor, number, body)
    location = _url(request, actor.id, "versions", number, "env-vars", var["name"])
    return data_response(env_var_json(var), 201, location)


async def get_env_var(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    async with state.db.read() as session:
        actor = await get_actor(session, user, actor_ref)
    version = service.find_version(actor, number)
    return data_response(env_var_json(service.find_env_var(version, request.path_params["envVarName"])))


async def update_env_var(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    async with actor_change(state) as session:
        actor = await get_actor(session, user, actor_ref)
        name = request.path_params["envVarName"]
        var = await service.update_env_var(session, actor, number, name, body)
    return data_response(env_var_json(var))


async def delete_env_var(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    actor_ref, number = _path(request)
    async with actor_change(state) as session:
        actor = await get_actor(session, user, actor_ref)
        await service.delete_env_var(session, actor, number, request.path_params["envVarName"])
    return Response(status_code=204)
