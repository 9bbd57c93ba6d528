"""/v2/datasets: get a dataset, push items, list items (json) with the pagination headers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json
from server.api.params import parse_bool, parse_int
from server.errors import InvalidRequest
from server.lifespan import state_of
from server.responses import data_response, raw_json_response
from server.services.resolve import get_dataset
from server.shapes import dataset_json
from server.storage.datasets import insert_items_stmt, list_items_stmt, reserve_stmt

NO_LIMIT = 999_999_999_999


async def get(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        dataset = await get_dataset(session, user, request.path_params["datasetId"])
    return data_response(dataset_json(dataset, user, state.settings.api_base_url))


async def push_items(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json(request, state.settings.max_body_bytes)
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidRequest("Dataset items must be a JSON object or an array of objects.")
    async with state.db.transaction() as session:
        dataset = await get_dataset(session, user, request.path_params["datasetId"])
        if items:
            end = (await session.execute(reserve_stmt(dataset.id, len(items)))).scalar_one()
            stmt, rows = insert_items_stmt(dataset.id, end, items)
            await session.execute(stmt, rows)
    return raw_json_response({}, 201)


async def list_items(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    params = request.query_params
    offset = parse_int(params, "offset") or 0
    limit = parse_int(params, "limit") or None  # 0 or missing: no limit
    desc = bool(parse_bool(params, "desc"))
    async with state.db.read() as session:
        dataset = await get_dataset(session, user, request.path_params["datasetId"])
        rows = (await session.execute(list_items_stmt(dataset.id, offset, limit, desc))).scalars().all()
    body = ("[" + ",".join(rows) + "]").encode()
    headers = {
        "X-Apify-Pagination-Offset": str(offset),
        "X-Apify-Pagination-Limit": str(limit or NO_LIMIT),
        "X-Apify-Pagination-Count": str(len(rows)),
        "X-Apify-Pagination-Total": str(dataset.item_count),
        "X-Apify-Pagination-Desc": "true" if desc else "false",
    }
    return Response(body, 200, headers, media_type="application/json")
