"""Who is calling: a Bearer header or ?token=, matched by hash."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request

from server.errors import InvalidToken, TokenNotProvided
from server.lifespan import state_of
from server.storage.ids import hash_token
from server.storage.models import ApiToken, User


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


async def authenticate(request: Request) -> User:
    """The token's user, or 401 in Apify's words."""
    token = token_from(request)
    if token is None:
        raise TokenNotProvided()
    stmt = (
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token))
    )
    async with state_of(request).db.read() as session:
        user = (await session.execute(stmt)).scalar_one_or_none()
    if user is None:
        raise InvalidToken()
    return user
