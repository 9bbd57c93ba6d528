"""/v2/users/me/tokens (Greenroom's own; Apify has no API for tokens): list, create, revoke.

Only a user's own token may manage tokens; a run's token gets 403 (server/api/auth.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate_owner
from server.api.body import read_json_object
from server.api.pagination import page_params, paginated
from server.errors import InvalidInput
from server.lifespan import state_of
from server.responses import data_response
from server.services.tokens import create_token, list_tokens, revoke_token
from server.shapes import api_token_json


async def list_(request: Request) -> Response:
    user = await authenticate_owner(request)
    page = page_params(request)
    total, rows = await list_tokens(
        state_of(request), user, offset=page.offset, limit=page.limit, desc=page.desc
    )
    return paginated(page, total, [api_token_json(row) for row in rows])


async def create(request: Request) -> Response:
    """{description?, expiresAt?} → 201 with the token's plaintext, shown this once."""
    state = state_of(request)
    user = await authenticate_owner(request)
    body = await read_json_object(request, state.settings.max_body_bytes, required=False)
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidInput("Field 'description' must be a string.")
    row, token = await create_token(state, user, description, _expires_at(body.get("expiresAt")))
    return data_response({**api_token_json(row), "token": token}, 201)


def _expires_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("Field 'expiresAt' must be an ISO 8601 date and time, or null.") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


async def delete_(request: Request) -> Response:
    user = await authenticate_owner(request)
    await revoke_token(state_of(request), user, request.path_params["tokenId"])
    return Response(status_code=204)
