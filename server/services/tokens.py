"""A user's API tokens: list, create (the plaintext shown once), revoke. Run tokens (made for a
run's actor, ended with the run) are not the user's to manage here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from server.errors import InvalidInput, NotFound
from server.lifespan import AppState
from server.storage.ids import hash_token, new_token, utcnow
from server.storage.models import TOKEN_DESCRIPTION_CHARS, ApiToken, User


def _users_own(user: User) -> tuple[Any, ...]:
    return (ApiToken.user_id == user.id, ApiToken.run_id.is_(None))


async def list_tokens(
    state: AppState, user: User, *, offset: int = 0, limit: int | None = None, desc: bool = False
) -> tuple[int, Sequence[ApiToken]]:
    """How many tokens the user has, and a page of them, oldest first unless `desc`."""
    order = (ApiToken.created_at.desc(), ApiToken.id.desc()) if desc else (ApiToken.created_at, ApiToken.id)
    async with state.db.read() as session:
        total = (await session.execute(select(func.count()).where(*_users_own(user)))).scalar_one()
        stmt = select(ApiToken).where(*_users_own(user)).order_by(*order).offset(offset).limit(limit)
        return total, (await session.execute(stmt)).scalars().all()


async def create_token(
    state: AppState, user: User, description: str | None = None, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """The new token's row and its plaintext, which is not stored (only its hash is)."""
    if description is not None and len(description) > TOKEN_DESCRIPTION_CHARS:
        raise InvalidInput(f"A token's description must be at most {TOKEN_DESCRIPTION_CHARS} characters.")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("A token's expiresAt must be in the future.")
    token = new_token()
    row = ApiToken(
        user_id=user.id, token_hash=hash_token(token), description=description, expires_at=expires_at
    )
    async with state.db.transaction() as session:
        session.add(row)
    return row, token


async def revoke_token(state: AppState, user: User, token_id: str) -> None:
    """Deletes the token: refused from the next request on (every request looks its hash up)."""
    async with state.db.transaction() as session:
        gone = await session.execute(delete(ApiToken).where(ApiToken.id == token_id, *_users_own(user)))
        if gone.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound("API token was not found")


def token_id_of(tokens: Sequence[ApiToken], token: str) -> str | None:
    """Which of the tokens is `token` (the one the console is signed in with)."""
    hashed = hash_token(token)
    return next((t.id for t in tokens if t.token_hash == hashed), None)
