"""Creating users and tokens (CLI and `greenroom dev`); the plaintext token is shown once, stored hashed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from server.storage.db import SyncDatabase
from server.storage.ids import hash_token, new_token, utcnow
from server.storage.models import ApiToken, User

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,30}$", re.IGNORECASE)


def create_user(db: SyncDatabase, username: str) -> tuple[User, str]:
    if not USERNAME_RE.fullmatch(username):
        raise ValueError("a username is 3 to 30 letters, digits, '_', '.' or '-'")
    with db.transaction() as session:
        user = User(username=username)
        session.add(user)
        session.flush()
        token = new_token()
        session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    return user, token


def create_token(
    db: SyncDatabase, username: str, expires_at: datetime | None = None, description: str | None = None
) -> str:
    with db.transaction() as session:
        user_id = _user_id(session, username)
        token = new_token()
        session.add(
            ApiToken(
                user_id=user_id,
                token_hash=hash_token(token),
                expires_at=expires_at,
                description=description,
            )
        )
    return token


def token_is_valid(db: SyncDatabase, token: str) -> bool:
    with db.transaction() as session:
        stmt = select(ApiToken.id).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.run_id.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
        )
        return session.execute(stmt).first() is not None


def user_exists(db: SyncDatabase, username: str) -> bool:
    with db.transaction() as session:
        return session.execute(select(User.id).where(User.username == username)).first() is not None


@dataclass(frozen=True)
class UserRow:
    id: str
    username: str
    created_at: datetime
    tokens: int


@dataclass(frozen=True)
class TokenRow:
    """A token as listed: never its secret (only its hash is stored), so it is named by its id."""

    id: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    description: str | None


def list_users(db: SyncDatabase) -> list[UserRow]:
    personal = (
        select(func.count(ApiToken.id))
        .where(ApiToken.user_id == User.id, ApiToken.run_id.is_(None))
        .scalar_subquery()
    )
    stmt = select(User.id, User.username, User.created_at, personal).order_by(User.created_at, User.id)
    with db.transaction() as session:
        return [UserRow(*row) for row in session.execute(stmt).all()]


def list_tokens(db: SyncDatabase, username: str) -> list[TokenRow]:
    """The user's own tokens; those handed to runs (dropped when the run ends) are not listed."""
    with db.transaction() as session:
        user_id = _user_id(session, username)
        stmt = (
            select(
                ApiToken.id,
                ApiToken.created_at,
                ApiToken.expires_at,
                ApiToken.last_used_at,
                ApiToken.description,
            )
            .where(ApiToken.user_id == user_id, ApiToken.run_id.is_(None))
            .order_by(ApiToken.created_at, ApiToken.id)
        )
        return [TokenRow(*row) for row in session.execute(stmt).all()]


def revoke_token(db: SyncDatabase, username: str, token_or_id: str) -> str:
    """Deletes one of the user's tokens, named by its id (as listed) or by the token itself; the
    deleted token's id. A deleted token is refused at once: every request looks its hash up."""
    with db.transaction() as session:
        user_id = _user_id(session, username)
        mine = (ApiToken.user_id == user_id, ApiToken.run_id.is_(None))
        named = ApiToken.token_hash == hash_token(token_or_id) if "_" in token_or_id else None
        where = named if named is not None else ApiToken.id == token_or_id
        token_id = session.execute(select(ApiToken.id).where(where, *mine)).scalar_one_or_none()
        if token_id is None:
            raise LookupError(f"user {username!r} has no token {token_or_id!r}")
        session.execute(delete(ApiToken).where(ApiToken.id == token_id))
    return token_id


def _user_id(session: Session, username: str) -> str:
    user_id = session.execute(select(User.id).where(User.username == username)).scalar_one_or_none()
    if user_id is None:
        raise LookupError(f"no user named {username!r}")
    return user_id
