"""Who holds a token: the user an API token (stored hashed) belongs to, and the run it was handed
to, if any. The one lookup behind the API's Bearer tokens and the console's cookie."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.storage.ids import hash_token, utcnow
from server.storage.models import ApiToken, User


class Holder(NamedTuple):
    user: User
    token_id: str
    run_id: str | None  # set for a token handed to a run's actor (dropped when the run ends)
    last_used_at: datetime | None


# A token made with an expiry (`greenroom tokens create --expires`, expiresAt) ends then; a revoked
# one is deleted. Either is refused by the next request: every request looks its token up.
_BY_TOKEN = (
    select(User, ApiToken.id, ApiToken.run_id, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        or_(
            ApiToken.expires_at.is_(None),
            ApiToken.expires_at > bindparam("now", type_=ApiToken.expires_at.type),
        ),
    )
)


def _params(token: str) -> dict[str, object]:
    return {"token_hash": hash_token(token), "now": utcnow()}


async def token_holder(session: AsyncSession, token: str) -> Holder | None:
    row = (await session.execute(_BY_TOKEN, _params(token))).one_or_none()
    return None if row is None else Holder(*row)


def token_holder_sync(session: Session, token: str) -> Holder | None:
    """token_holder in a sync session (Database.quick_read: every request's lookup)."""
    row = session.execute(_BY_TOKEN, _params(token)).one_or_none()
    return None if row is None else Holder(*row)


async def user_of_token(session: AsyncSession, token: str) -> Holder | None:
    """The holder of one of a user's own tokens (the console's sign-in): a run's token is not
    one, or an actor could sign the console in and act there beyond its run."""
    holder = await token_holder(session, token)
    return holder if holder is not None and holder.run_id is None else None
