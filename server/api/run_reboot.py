"""POST /v2/actor-runs/:runId/reboot and /metamorph, and an actor's or task's runs/last/reboot|metamorph.

The deprecated /v2/acts/:actorId/runs/:runId/metamorph is the same as /v2/actor-runs/:runId/metamorph.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import content_type, parse_json_off_loop, read_decoded
from server.api.params import parse_build
from server.api.run_lists import find_last_run
from server.errors import InvalidInput
from server.lifespan import state_of
from server.responses import data_response
from server.services.reboots import MetamorphInput, metamorph_run, reboot_run
from server.services.resolve import get_actor, get_run
from server.services.waiting import read_run
from server.shapes import run_json
from server.storage.models import Run, User

Find = Callable[[AsyncSession, User], Awaitable[Run]]


def _by_id(request: Request) -> Find:
    return lambda session, user: get_run(session, user, request.path_params["runId"])


def _last(request: Request) -> Find:
    return lambda session, user: find_last_run(request, session, user)


async def reboot(request: Request) -> Response:
    return await _reboot(request, _by_id(request))


async def reboot_last(request: Request) -> Response:
    """The last run of the actor or task (of `status`, if given)."""
    return await _reboot(request, _last(request))


async def metamorph(request: Request) -> Response:
    return await _metamorph(request, _by_id(request))


async def metamorph_last(request: Request) -> Response:
    return await _metamorph(request, _last(request))


async def _reboot(request: Request, find: Find) -> Response:
    state = state_of(request)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run = await find(session, user)
    await reboot_run(state, run)
    return data_response(run_json(await read_run(state, run.id)))


async def _input(request: Request, limit: int) -> MetamorphInput | None:
    """The body verbatim with its Content-Type, as a run's INPUT is; none for an empty body or JSON null."""
    media_type = content_type(request, "application/json")
    body = await read_decoded(request, limit)
    if not body.strip():
        return None
    settings = state_of(request).settings
    is_json = media_type.strip().lower().startswith("application/json")  # any case, as runs.py
    if is_json and await parse_json_off_loop(body, settings) is None:
        return None
    return MetamorphInput(body, media_type)


async def _metamorph(request: Request, find: Find) -> Response:
    """Everything is parsed and resolved (run, target actor, input) before anything is written."""
    state = state_of(request)
    target_ref = request.query_params.get("targetActorId") or ""
    build = parse_build(request.query_params)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run = await find(session, user)
        if not target_ref.strip():
            raise InvalidInput("Parameter 'targetActorId' is required.")
        target = await get_actor(session, user, target_ref.replace("/", "~"))
    run_input = await _input(request, state.settings.max_record_bytes)
    await metamorph_run(state, run, target, build, run_input)
    return data_response(run_json(await read_run(state, run.id)))
