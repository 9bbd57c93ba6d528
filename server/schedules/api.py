"""/v2/schedules: Apify's schedules API (the official clients' schedules() and schedule(id))."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.api.pagination import page_params, paginated
from server.lifespan import state_of
from server.responses import data_response
from server.schedules.service import (
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    schedule_log,
    update_schedule,
)
from server.schedules.shapes import invocation_json, schedule_json


async def list_(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    page = page_params(request)
    total, schedules = await list_schedules(state, user, page.offset, page.limit, page.desc)
    return paginated(page, total, [schedule_json(s, short=True) for s in schedules])


async def create(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    schedule = await create_schedule(state, user, body)
    location = f"{state.settings.api_base_url}/v2/schedules/{schedule.id}"
    return data_response(schedule_json(schedule), 201, location)


async def get(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    return data_response(schedule_json(await get_schedule(state, user, request.path_params["scheduleId"])))


async def update(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    schedule = await update_schedule(state, user, request.path_params["scheduleId"], body)
    return data_response(schedule_json(schedule))


async def delete(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    await delete_schedule(state, user, request.path_params["scheduleId"])
    return Response(status_code=204)


async def log(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    invocations = await schedule_log(state, user, request.path_params["scheduleId"])
    return data_response([invocation_json(i) for i in invocations])


def schedule_routes() -> list[BaseRoute]:
    return [
        Route("/v2/schedules", list_, methods=["GET"]),
        Route("/v2/schedules", create, methods=["POST"]),
        Route("/v2/schedules/{scheduleId}", get, methods=["GET"]),
        Route("/v2/schedules/{scheduleId}", update, methods=["PUT"]),
        Route("/v2/schedules/{scheduleId}", delete, methods=["DELETE"]),
        Route("/v2/schedules/{scheduleId}/log", log, methods=["GET"]),
    ]
