"""The head of a queue and the locks on its requests.

A locked request (lock_expires_at in the future) is out of the head until its lock ends or its
client lets it go; only the clientKey that locked it may prolong or delete the lock. A lock that
lapsed may still be prolonged by its client as long as nobody else took the request meanwhile.
Prolonging or deleting a lock places the request anew: at the forefront, or at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from server.errors import Forbidden
from server.services.queue_requests import Touched, get_request, place, touch
from server.storage import request_queues as stmts
from server.storage.ids import utcnow
from server.storage.models import QueueRequest


@dataclass(frozen=True)
class Head:
    queue: Touched
    items: list[QueueRequest]
    has_locked: bool = False


def list_head(session: Session, queue_id: str, limit: int, client_key: str | None) -> Head:
    queue = touch(session, queue_id, client_key, write=False)
    rows = session.execute(*stmts.head(queue_id, limit, utcnow())).scalars().all()
    return Head(queue, list(rows))


def lock_head(session: Session, queue_id: str, limit: int, lock_secs: float, client_key: str | None) -> Head:
    """The first `limit` requests of the head, locked for lock_secs to client_key."""
    queue = touch(session, queue_id, client_key, write=False)
    now = utcnow()
    rows = list(session.execute(*stmts.head(queue_id, limit, now)).scalars().all())
    expires = now + timedelta(seconds=lock_secs)
    if rows:
        session.execute(*stmts.lock(queue_id, [row.id for row in rows], expires, client_key))
    for row in rows:  # as written, without the ORM writing them again (its flush cost a third of a lock)
        set_committed_value(row, "lock_expires_at", expires)
        set_committed_value(row, "lock_client_key", client_key)
    has_locked = session.execute(*stmts.has_locked(queue_id, now)).scalar_one() > 0
    return Head(queue, rows, has_locked)


def _check_owner(row: QueueRequest, client_key: str | None, now: datetime) -> None:
    if row.lock_expires_at is None:
        raise Forbidden("The request is not locked.")
    expires = row.lock_expires_at
    if expires.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        expires = expires.replace(tzinfo=UTC)
    if row.lock_client_key != client_key and expires > now:
        raise Forbidden("The request is locked by another client.")
    if row.lock_client_key != client_key:
        raise Forbidden("The request is not locked by this client.")


def prolong_lock(
    session: Session,
    queue_id: str,
    request_id: str,
    lock_secs: float,
    *,
    forefront: bool,
    client_key: str | None,
) -> datetime:
    touched = touch(session, queue_id, client_key, places=1)
    row = get_request(session, queue_id, request_id)
    now = utcnow()
    _check_owner(row, client_key, now)
    row.lock_expires_at = now + timedelta(seconds=lock_secs)
    if row.order_no is not None:
        row.order_no = place(touched.order_seq, forefront)
    session.flush()
    return row.lock_expires_at


def delete_lock(
    session: Session, queue_id: str, request_id: str, *, forefront: bool, client_key: str | None
) -> None:
    touched = touch(session, queue_id, client_key, places=1)
    row = get_request(session, queue_id, request_id)
    _check_owner(row, client_key, utcnow())
    row.lock_expires_at, row.lock_client_key = None, None
    if row.order_no is not None:
        row.order_no = place(touched.order_seq, forefront)
    session.flush()


def unlock_all(session: Session, queue_id: str, client_key: str | None) -> int:
    """Let go of every lock client_key holds on the queue; how many there were."""
    touch(session, queue_id, client_key, write=False)
    result = session.execute(stmts.unlock_client_stmt(queue_id, client_key, utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]
