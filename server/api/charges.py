"""POST /v2/actor-runs/:runId/charge: a pay-per-event charge (server/services/charges.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate_with_run
from server.api.body import read_json_object
from server.api.run_lists import find_last_run
from server.lifespan import state_of
from server.responses import raw_json_response
from server.services.charges import charge_run, check_charge
from server.services.resolve import get_run


async def charge(request: Request) -> Response:
    """201 with an empty object (the spec's response), also for a retry under the same idempotency key.
    Also .../runs/last/charge of an actor or task: the clients' last_run().charge() calls it, though
    Apify's spec does not list it."""
    state = state_of(request)
    async with state.db.read() as session:
        user, token_run_id = await authenticate_with_run(request, session)
        if "runId" in request.path_params:
            run = await get_run(session, user, request.path_params["runId"])
        else:
            run = await find_last_run(request, session, user)
    body = await read_json_object(request, state.settings.max_body_bytes)
    await charge_run(state, run, token_run_id, check_charge(body, request.headers.get("idempotency-key")))
    return raw_json_response({}, 201)
