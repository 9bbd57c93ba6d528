"""Builds: POST/GET /v2/acts/:id/builds, .../builds/default,
/v2/actor-builds[/:id[/abort|/log|/openapi.json]] and DELETE /v2/actor-builds/:id."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate, token_from
from server.api.logs import respond as log_response
from server.api.pagination import Page, page_params, paginated
from server.api.params import parse_bool, wait_for_finish
from server.errors import InvalidInput, NotFound
from server.lifespan import state_of
from server.responses import data_response, raw_json_response
from server.services.build_delete import delete_build
from server.services.build_openapi import openapi_document
from server.services.build_versions import BuildRequest, resolve_build
from server.services.builds import abort_build, get_build, read_build, start_build, wait_for_build
from server.services.resolve import get_actor
from server.services.validation import VERSION_RE, check_build_tag
from server.shapes import build_json, build_short_json
from server.storage.logs import BUILD_LOG
from server.storage.models import Actor, Build, User


async def create(request: Request) -> Response:
    """Build a version (`version` is required); `tag` overrides its buildTag; waitForFinish."""
    state = state_of(request)
    params = request.query_params
    version = params.get("version")
    if not version or not VERSION_RE.fullmatch(version):
        raise InvalidInput("Parameter 'version' is required: the version number to build, e.g. 0.0.")
    tag = check_build_tag(params["tag"]) if params.get("tag") else None
    use_cache = parse_bool(params, "useCache")
    beta_packages = parse_bool(params, "betaPackages")
    wait_s = wait_for_finish(params, state.settings)
    user = await authenticate(request)
    how = BuildRequest(
        tag=tag,
        use_cache=True if use_cache is None else use_cache,
        beta_packages=bool(beta_packages),
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    build = await start_build(state, user, request.path_params["actorId"], version, how)
    if wait_s > 0:
        build = await wait_for_build(state, build.id, wait_s)
    location = f"{state.settings.api_base_url}/v2/actor-builds/{build.id}"
    return data_response(build_json(build), 201, location)


async def _list(request: Request, *where: ColumnElement[bool]) -> Response:
    """By startedAt (then id, for one order across pages), as Apify lists builds."""
    page: Page = page_params(request)
    order = (Build.started_at.desc(), Build.id.desc()) if page.desc else (Build.started_at, Build.id)
    stmt = select(Build).where(*where).order_by(*order).offset(page.offset).limit(page.limit)
    async with state_of(request).db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Build).where(*where))).scalar_one()
        builds = (await session.execute(stmt)).scalars().all()
    return paginated(page, total, [build_short_json(b) for b in builds])


async def list_for_actor(request: Request) -> Response:
    state = state_of(request)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        actor = await get_actor(session, user, request.path_params["actorId"])
    return await _list(request, Build.act_id == actor.id)


async def list_for_user(request: Request) -> Response:
    user = await authenticate(request)
    return await _list(request, Build.user_id == user.id)


async def _found(request: Request) -> Build:
    """The build of the path (under /v2/acts/:actorId/builds/ it must be that actor's)."""
    state = state_of(request)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        build = await get_build(session, user, request.path_params["buildId"])
        if "actorId" in request.path_params:
            actor = await get_actor(session, user, request.path_params["actorId"])
            if actor.id != build.act_id:
                raise NotFound("Actor build was not found")
    return build


async def get(request: Request) -> Response:
    state = state_of(request)
    wait_s = wait_for_finish(request.query_params, state.settings)
    build = await _found(request)
    if wait_s > 0:
        build = await wait_for_build(state, build.id, wait_s)
    return data_response(build_json(build))


async def get_default(request: Request) -> Response:
    """The build a run without a `build` option would use (404 unknown-build-tag if none)."""
    state = state_of(request)
    wait_s = wait_for_finish(request.query_params, state.settings)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        actor = await get_actor(session, user, request.path_params["actorId"])
        ref = await session.run_sync(resolve_build, actor, actor.default_run_options.get("build") or "latest")
    build = await (wait_for_build(state, ref.id, wait_s) if wait_s > 0 else read_build(state, ref.id))
    return data_response(build_json(build))


async def abort(request: Request) -> Response:
    state = state_of(request)
    build = await _found(request)
    await abort_build(state, build)
    return data_response(build_json(await read_build(state, build.id)))


async def log(request: Request) -> Response:
    """The build log (pip and npm output), whole or (stream=1) followed until the build ends."""
    build = await _found(request)
    return await log_response(request, build.id, BUILD_LOG)


async def delete_(request: Request) -> Response:
    """204; 400 for a build not finished or still needed, or the actor's default build."""
    state = state_of(request)
    build = await _found(request)
    await delete_build(state, build.id)
    return Response(status_code=204)


async def _public_actor(session: AsyncSession, ref: str, user: User | None) -> Actor:
    """An actor by id or `username~name` without a token (`~name` needs one: it names the caller's)."""
    if user is not None:
        return await get_actor(session, user, ref)
    username, tilde, name = ref.partition("~")
    if not tilde:
        stmt = select(Actor).where(Actor.id == ref)
    else:
        stmt = (
            select(Actor)
            .join(User, User.id == Actor.user_id)
            .where(User.username == username, Actor.name == name)
        )
    actor = (
        None
        if "\x00" in ref or (tilde and not username)
        else (await session.execute(stmt)).scalar_one_or_none()
    )
    if actor is None:
        raise NotFound("Actor was not found")
    return actor


async def openapi(request: Request) -> Response:
    """The OpenAPI document for running the build. As on Apify, the build's id is the credential: no
    token is needed (one is used when sent, for `~name` and for the `default` build of an actor)."""
    state = state_of(request)
    build_id = request.path_params["buildId"]
    async with state.db.read() as session:
        user = await authenticate(request, session) if token_from(request) else None
        actor = None
        if "actorId" in request.path_params:
            actor = await _public_actor(session, request.path_params["actorId"], user)
        if actor is not None and build_id == "default":
            tag = actor.default_run_options.get("build") or "latest"
            build_id = (await session.run_sync(resolve_build, actor, tag)).id
        build = None
        if "\x00" not in build_id:
            build = (await session.execute(select(Build).where(Build.id == build_id))).scalar_one_or_none()
        if build is None or (actor is not None and actor.id != build.act_id):
            raise NotFound("Actor build was not found")
        if actor is None:
            actor = (await session.execute(select(Actor).where(Actor.id == build.act_id))).scalar_one()
        owner = (await session.execute(select(User).where(User.id == actor.user_id))).scalar_one()
    return raw_json_response(openapi_document(actor, owner.username, build, state.settings.api_base_url))
