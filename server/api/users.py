"""/v2/users/me."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.responses import data_response
from server.shapes import user_json


async def me(request: Request) -> Response:
    return data_response(user_json(await authenticate(request)))
