"""Who holds a token: the user an API token (stored hashed) belongs to, and the run it was handed
to, if any. The one lookup behind the API's Bearer tokens and the console's cookie."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.storage.ids import hash_token, utcnow
from server.storage.models import ApiToken, User
from server.storage.prepared import Prepared


class Holder(NamedTuple):
    user: User
    token_id: str
    run_id: str | None  # set for a token handed to a run's actor (dropped when the run ends)
    last_used_at: datetime | None


_USERS = cast(Table, User.__table__)
_TOKENS = cast(Table, ApiToken.__table__)
_USER_COLUMNS = [column.key for column in _USERS.columns]

# A token made with an expiry (`greenroom tokens create --expires`, expiresAt) ends then; a revoked
# one is deleted. Either is refused by the next request: every request looks its token up.
_BY_TOKEN = (
    select(*_USERS.columns, _TOKENS.c.id, _TOKENS.c.run_id, _TOKENS.c.last_used_at)
    .join(_TOKENS, _TOKENS.c.user_id == _USERS.c.id)
    .where(
        _TOKENS.c.token_hash == bindparam("token_hash"),
        or_(
            _TOKENS.c.expires_at.is_(None),
            _TOKENS.c.expires_at > bindparam("now", type_=_TOKENS.c.expires_at.type),
        ),
    )
)

_BY_TOKEN_READ = Prepared(_BY_TOKEN)


def _params(token: str) -> dict[str, object]:
    return {"token_hash": hash_token(token), "now": utcnow()}


def _holder(row: Sequence[Any] | None) -> Holder | None:
    """The User is made from the row's columns, not loaded by the ORM: its entity loading was half
    of this lookup's CPU (0.15 ms of every request). Nothing adds or refreshes it in a session."""
    if row is None:
        return None
    count = len(_USER_COLUMNS)
    return Holder(_user(tuple(row[:count])), *row[count:])


# The callers' Users, one per distinct row, shared by the requests of this process: making one with
# the ORM's instrumented constructor was about 6% of the API's samples under GET (bench/profile.py
# --kind get). Shared because nothing changes or attaches a caller's User; keyed by the whole row, so
# a user whose row changed gets a new one at their next request.
_USERS_KEPT = 10_000
_users: dict[tuple[Any, ...], User] = {}


def _user(values: tuple[Any, ...]) -> User:
    user = _users.get(values)
    if user is None:
        if len(_users) >= _USERS_KEPT:
            _users.clear()
        user = _users[values] = User(**dict(zip(_USER_COLUMNS, values, strict=True)))
    return user


async def token_holder(session: AsyncSession, token: str) -> Holder | None:
    return _holder((await session.execute(_BY_TOKEN, _params(token))).one_or_none())


def token_holder_sync(session: Session | Connection, token: str) -> Holder | None:
    """token_holder in a sync session or connection (Database.quick_rows: every request's lookup;
    on SQLite, prepared: server/storage/prepared.py)."""
    if isinstance(session, Connection):
        return _holder(_BY_TOKEN_READ.first(session, _params(token)))
    return _holder(session.execute(_BY_TOKEN, _params(token)).one_or_none())


async def user_of_token(session: AsyncSession, token: str) -> Holder | None:
    """The holder of one of a user's own tokens (the console's sign-in): a run's token is not
    one, or an actor could sign the console in and act there beyond its run."""
    holder = await token_holder(session, token)
    return holder if holder is not None and holder.run_id is None else None
