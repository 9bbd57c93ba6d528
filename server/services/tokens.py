"""A user's API tokens: list, create (the plaintext shown once), revoke. Run tokens (made for a
run's actor, ended with the run) are not the user's to manage here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from server.errors import NotFound
from server.lifespan import AppState
from server.storage.ids import hash_token, new_token
from server.storage.models import ApiToken, User


async def list_tokens(state: AppState, user: User) -> Sequence[ApiToken]:
    async with state.db.read() as session:
        stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.run_id.is_(None))
        return (await session.execute(stmt.order_by(ApiToken.created_at.desc()))).scalars().all()


async def create_token(state: AppState, user: User) -> str:
    token = new_token()
    async with state.db.transaction() as session:
        session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    return token


async def revoke_token(state: AppState, user: User, token_id: str) -> None:
    async with state.db.transaction() as session:
        gone = await session.execute(
            delete(ApiToken).where(
                ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.run_id.is_(None)
            )
        )
        if gone.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound("API token was not found")


def token_id_of(tokens: Sequence[ApiToken], token: str) -> str | None:
    """Which of the tokens is `token` (the one the console is signed in with)."""
    hashed = hash_token(token)
    return next((t.id for t in tokens if t.token_hash == hashed), None)
