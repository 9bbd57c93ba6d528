"""Creating users and tokens (CLI and `greenroom dev`); the plaintext token is shown once, stored hashed."""

from __future__ import annotations

import re

from sqlalchemy import select

from server.storage.db import SyncDatabase
from server.storage.ids import hash_token, new_token
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


def create_token(db: SyncDatabase, username: str) -> str:
    with db.transaction() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise LookupError(f"no user named {username!r}")
        token = new_token()
        session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    return token


def token_is_valid(db: SyncDatabase, token: str) -> bool:
    with db.transaction() as session:
        stmt = select(ApiToken.id).where(ApiToken.token_hash == hash_token(token), ApiToken.run_id.is_(None))
        return session.execute(stmt).first() is not None


def user_exists(db: SyncDatabase, username: str) -> bool:
    with db.transaction() as session:
        return session.execute(select(User.id).where(User.username == username)).first() is not None
