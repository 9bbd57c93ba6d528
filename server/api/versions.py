"""/v2/acts/:actorId/versions[/:versionNumber[/env-vars[/:envVarName]]] (both prefixes).

Every change to a version's source or env vars makes a new build at once (queued for a worker after
the commit); runs of the version's buildTag use it from then on (server/services/build_versions.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.lifespan import state_of
from server.responses import data_response
from server.services import versions as service
from server.services.builds import actor_change
from server.services.resolve import get_actor
from server.settings import Settings
from server.shapes import env_var_json, public_version
from server.storage.models import Actor


def _number(request: Request) -> str:
    return str(request.path_params["versionNumber"])


def _url(request: Request, *parts: str) -> str:
    base = state_of(request).settings.api_base_url
    return "/".join([f"{base}/v2/acts", *(quote(p, safe="") for p in parts)])


async def _actor(request: Request) -> Actor:
    """The caller's actor named in the path, for reading."""
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        return await get_actor(session, user, request.path_params["actorId"])


@contextlib.asynccontextmanager
async def _changing(request: Request) -> AsyncIterator[tuple[AsyncSession, Actor, dict[str, Any]]]:
    """The caller's actor in a transaction whose new builds are queued after it commits, with the
    request's JSON body ({} for DELETE). The caller is authenticated before the body is read."""
    state = state_of(request)
    user = await authenticate(request)
    body = (
        {} if request.method == "DELETE" else await read_json_object(request, state.settings.max_body_bytes)
    )
    async with actor_change(state) as session:
        yield session, await get_actor(session, user, request.path_params["actorId"]), body


def _settings(request: Request) -> Settings:
    return state_of(request).settings


async def list_versions(request: Request) -> Response:
    items = [public_version(v) for v in (await _actor(request)).versions]
    return data_response({"total": len(items), "items": items})


async def create_version(request: Request) -> Response:
    async with _changing(request) as (session, actor, body):
        version = await service.add_version(session, actor, body, _settings(request))
    location = _url(request, actor.id, "versions", version["versionNumber"])
    return data_response(public_version(version), 201, location)


async def get_version(request: Request) -> Response:
    return data_response(public_version(service.find_version(await _actor(request), _number(request))))


async def update_version(request: Request) -> Response:
    async with _changing(request) as (session, actor, body):
        version = await service.update_version(session, actor, _number(request), body, _settings(request))
    return data_response(public_version(version))


async def delete_version(request: Request) -> Response:
    async with _changing(request) as (session, actor, _):
        await service.delete_version(session, actor, _number(request))
    return Response(status_code=204)


async def list_env_vars(request: Request) -> Response:
    version = service.find_version(await _actor(request), _number(request))
    items = [env_var_json(v) for v in version.get("envVars") or []]
    return data_response({"total": len(items), "items": items})


async def create_env_var(request: Request) -> Response:
    number = _number(request)
    async with _changing(request) as (session, actor, body):
        var = await service.add_env_var(session, actor, number, body, _settings(request))
    location = _url(request, actor.id, "versions", number, "env-vars", var["name"])
    return data_response(env_var_json(var), 201, location)


async def get_env_var(request: Request) -> Response:
    version = service.find_version(await _actor(request), _number(request))
    return data_response(env_var_json(service.find_env_var(version, request.path_params["envVarName"])))


async def update_env_var(request: Request) -> Response:
    async with _changing(request) as (session, actor, body):
        name = request.path_params["envVarName"]
        var = await service.update_env_var(session, actor, _number(request), name, body, _settings(request))
    return data_response(env_var_json(var))


async def delete_env_var(request: Request) -> Response:
    async with _changing(request) as (session, actor, _):
        name = request.path_params["envVarName"]
        await service.delete_env_var(session, actor, _number(request), name, _settings(request))
    return Response(status_code=204)
