"""Idempotent run starts: an Idempotency-Key names the run it started, for the same user, for a day.

A repeat of the key attaches to that run instead of starting another (server/services/runs.py
write_run). The key is written with the run (storage/run_start_keys.py): of two starts with one key
at once, the second to write it finds it taken and is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from server.errors import ApiError
from server.storage.models import Run
from server.storage.run_start_keys import expired_key_stmt, insert_key_stmt, keyed_run_stmt

# How long an Idempotency-Key names the run it started (Stripe's keys last a day too).
IDEMPOTENCY_WINDOW = timedelta(days=1)


class KeyTaken(Exception):
    """Another start with the same key committed while this one was written."""

    def __init__(self, keyed: Keyed):
        super().__init__(keyed.key)
        self.keyed = keyed


@dataclass(frozen=True)
class Keyed:
    """A start's idempotency key (none: every start is a new run) and what it must match."""

    user_id: str
    act_id: str
    task_id: str | None
    key: str | None
    now: datetime

    def run(self, session: Session) -> Run | None:
        """The run the key started within the window, if any."""
        if self.key is None:
            return None
        stmt = keyed_run_stmt(self.user_id, self.key, self.now - IDEMPOTENCY_WINDOW)
        run = session.execute(stmt).scalar_one_or_none()
        if run is not None and (run.act_id, run.actor_task_id) != (self.act_id, self.task_id):
            what = f"task {run.actor_task_id}" if run.actor_task_id else f"actor {run.act_id}"
            raise ApiError(
                f"The Idempotency-Key was used within the last day to start run {run.id} of {what}; "
                "use a new key for another actor or task.",
                status_code=409,
                error_type="invalid-idempotency-key",
            )
        return run

    def write(self, session: Session, dialect: str, run_id: str) -> None:
        """The key, for the run being written; raises KeyTaken if a start with it committed first."""
        if self.key is None:
            return
        session.execute(expired_key_stmt(self.user_id, self.key, self.now - IDEMPOTENCY_WINDOW))
        row = {"user_id": self.user_id, "key": self.key, "run_id": run_id, "created_at": self.now}
        if session.execute(insert_key_stmt(dialect, row)).first() is None:
            raise KeyTaken(self)

    def taken_run(self, session: Session) -> Run:
        run = self.run(session)
        if run is None:  # started, then deleted at once
            raise ApiError("The run this Idempotency-Key started is gone; use a new key.", status_code=409)
        return run
