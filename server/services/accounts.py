"""Who holds a token: the user an API token (stored hashed) belongs to."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.ids import hash_token
from server.storage.models import ApiToken, User

_BY_TOKEN = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


async def user_of_token(session: AsyncSession, token: str) -> User | None:
    return (await session.execute(_BY_TOKEN, {"token_hash": hash_token(token)})).scalar_one_or_none()
