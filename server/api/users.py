"""/v2/users/me, its monthly usage, and /v2/users/:userId (a user's public profile)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.errors import InvalidInput, NotFound
from server.lifespan import state_of
from server.responses import data_response
from server.services.usage import monthly_usage as usage_of
from server.shapes import public_user_json, user_json
from server.storage.models import User


async def me(request: Request) -> Response:
    groups = {name: len(upstreams) for name, upstreams in state_of(request).settings.proxy_groups}
    return data_response(user_json(await authenticate(request), groups))


async def public(request: Request) -> Response:
    """A user by id or username, as Apify's public profile shows it. Apify needs no token here;
    Greenroom does, so that who has an account is told only to those who have one."""
    wanted = request.path_params["userId"]
    async with state_of(request).db.read() as session:
        await authenticate(request, session)
        stmt = select(User).where(or_(User.id == wanted, User.username == wanted))
        user = (await session.execute(stmt)).scalars().first()
    if user is None:
        raise NotFound("User was not found")
    return data_response(public_user_json(user))


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _usage_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        if not _DATE_RE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("Parameter 'date' must be a date in the YYYY-MM-DD format.") from None


async def monthly_usage(request: Request) -> Response:
    """The usage cycle holding `date` (YYYY-MM-DD; today if missing)."""
    day = _usage_date(request.query_params.get("date"))
    state = state_of(request)
    user = await authenticate(request)
    return data_response(await usage_of(state.db, user, day))
