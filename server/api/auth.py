"""Who is calling: a Bearer header or ?token=, matched by hash."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from server.errors import InvalidToken, TokenNotProvided
from server.lifespan import state_of
from server.observability.requests import note
from server.storage.ids import hash_token, utcnow
from server.storage.models import ApiToken, User


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


async def authenticate(request: Request, session: AsyncSession | None = None) -> User:
    """The token's user, or 401 in Apify's words. Pass a session to save opening one."""
    token = token_from(request)
    if token is None:
        raise TokenNotProvided()
    params = {"token_hash": hash_token(token), "now": utcnow()}
    if session is None:
        async with state_of(request).db.read() as own:
            user = (await own.execute(_BY_TOKEN, params)).scalar_one_or_none()
    else:
        user = (await session.execute(_BY_TOKEN, params)).scalar_one_or_none()
    if user is None:
        raise InvalidToken()
    note(request, user_id=user.id)
    return user


# Executed with {"now"}: a token made with an expiry (`greenroom tokens create --expires`) ends then.
_UNEXPIRED = or_(
    ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now", type_=ApiToken.expires_at.type)
)

_BY_TOKEN = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), _UNEXPIRED)
)


async def authenticate_with_run(request: Request, session: AsyncSession) -> tuple[User, str | None]:
    """The token's user, and the run it was made for (None for a user's own token)."""
    token = token_from(request)
    if token is None:
        raise TokenNotProvided()
    params = {"token_hash": hash_token(token), "now": utcnow()}
    row = (await session.execute(_WITH_RUN, params)).one_or_none()
    if row is None:
        raise InvalidToken()
    note(request, user_id=row[0].id)
    return row[0], row[1]


_WITH_RUN = (
    select(User, ApiToken.run_id)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), _UNEXPIRED)
)
