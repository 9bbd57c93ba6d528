"""Who is calling: a Bearer header or ?token=, matched by hash."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.requests import Request

from server.errors import ApiError, Forbidden, InvalidToken, TokenNotProvided
from server.lifespan import state_of
from server.observability.requests import note
from server.services.accounts import Holder, token_holder, token_holder_sync
from server.services.token_use import note_use
from server.storage.models import User

T = TypeVar("T")
H = TypeVar("H", Session, Connection)
# What a read as the caller gives back: the token's holder, and the read's value or its error.
_Read = tuple[Holder | None, T | None, ApiError | None]


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


async def authenticate(request: Request, session: AsyncSession | None = None) -> User:
    """The token's user, or 401 in Apify's words. Pass a session to save opening one."""
    user, _run_id = await _caller(request, session)
    return user


async def authenticate_owner(request: Request, session: AsyncSession | None = None) -> User:
    """As authenticate, but 403 for a token handed to a run: an actor must not mint itself a token
    that outlives its run (run tokens are dropped when the run ends), nor revoke its user's."""
    user, run_id = await _caller(request, session)
    if run_id is not None:
        raise Forbidden("A run's token cannot manage API tokens: use one of the user's own tokens.")
    return user


async def _caller(request: Request, session: AsyncSession | None) -> tuple[User, str | None]:
    token = _token_of(request)
    if session is None:
        holder = await state_of(request).db.quick_rows(lambda own: token_holder_sync(own, token))
    else:
        holder = await token_holder(session, token)
    admitted = _admitted(request, holder)
    return admitted.user, admitted.run_id


async def read_as_caller(request: Request, read: Callable[[Session, User], T]) -> tuple[User, T]:
    """authenticate, then read(session, user), in one quick read: one thread hop instead of two (a
    dataset or a key-value store). The token is checked first: a bad one is 401 whatever the read
    would have said, and the read's own error comes once the caller is noted."""
    return await _as_caller(request, state_of(request).db.quick_read, read)


async def rows_as_caller(request: Request, read: Callable[[Connection, User], T]) -> tuple[User, T]:
    """read_as_caller with a Core connection (Database.quick_rows), for reads whose rows are enough
    (server/storage/rows.py): a run's GET, a start's task and actor, a queue, a record."""
    return await _as_caller(request, state_of(request).db.quick_rows, read)


async def _as_caller(
    request: Request,
    quick: Callable[[Callable[[H], _Read[T]]], Awaitable[_Read[T]]],
    read: Callable[[H, User], T],
) -> tuple[User, T]:
    token = _token_of(request)

    def both(handle: H) -> _Read[T]:
        holder = token_holder_sync(handle, token)
        if holder is None:
            return None, None, None
        try:
            return holder, read(handle, holder.user), None
        except ApiError as exc:  # raised below, once the caller is noted
            return holder, None, exc

    holder, value, error = await quick(both)
    user = _admitted(request, holder).user
    if error is not None:
        raise error
    return user, cast(T, value)


def _token_of(request: Request) -> str:
    token = token_from(request)
    if token is None:
        raise TokenNotProvided()
    return token


def _admitted(request: Request, holder: Holder | None) -> Holder:
    if holder is None:
        raise InvalidToken()
    note(request, user_id=holder.user.id)
    note_use(state_of(request), holder.token_id, holder.last_used_at)
    return holder


async def authenticate_with_run(request: Request, session: AsyncSession) -> tuple[User, str | None]:
    """The token's user, and the run it was made for (None for a user's own token)."""
    return await _caller(request, session)
