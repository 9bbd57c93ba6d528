"""Who a proxy password belongs to: a user (users.proxy_password) or a run (passwords.py).

Answers are kept a few seconds, so a crawler's many connections cost one query; a run's password
therefore works at most that long after its run ended.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from sqlalchemy import select

from server.storage.db import Database
from server.storage.models import ApiToken, User
from worker.proxy.passwords import mac, split_run_password

CACHE_S = 5.0
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Principal:
    """Whose traffic a connection is: a run's (its password) or a user's own."""

    user_id: str
    run_id: str | None

    @property
    def key(self) -> str:
        return f"run {self.run_id}" if self.run_id else f"user {self.user_id}"

    @property
    def label(self) -> str:
        """For log lines: a run's traffic names its user too."""
        return f"run {self.run_id} (user {self.user_id})" if self.run_id else f"user {self.user_id}"


class Passwords:
    def __init__(self, db: Database):
        self._db = db
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, password: str) -> Principal | None:
        """The password's run or user; None for a wrong (or expired) one."""
        now = time.monotonic()
        cached = self._cache.get(password)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._look_up(password)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[password] = (now + CACHE_S, found)
        return found

    async def _look_up(self, password: str) -> Principal | None:
        run = split_run_password(password)
        async with self._db.read() as session:
            if run is not None:
                run_id, given = run
                stmt = select(ApiToken.user_id, ApiToken.token_hash).where(ApiToken.run_id == run_id)
                for user_id, token_hash in (await session.execute(stmt)).all():
                    if hmac.compare_digest(mac(token_hash), given):
                        return Principal(user_id, run_id)
                return None
            stmt_user = select(User.id).where(User.proxy_password == password)
            owner = (await session.execute(stmt_user)).scalar_one_or_none()
        return Principal(owner, None) if owner and password else None
