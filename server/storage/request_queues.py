"""Request queue statements. Every write to a queue's requests starts with touch_queue, whose UPDATE
of the queue row holds that row until commit: writers of one queue go one at a time, so counts, order
numbers and locks never race (SQLite serialises all writers anyway)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Delete,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.dml import Insert

from server.storage.dialects import insert_for, per_dialect
from server.storage.ids import utcnow
from server.storage.models import QueueRequest, RequestQueue

REQUEST_ID_CHARS = 15


def request_id_of(unique_key: str) -> str:
    """Apify's id of a uniqueKey (the clients compute the same one to cache requests locally)."""
    digest = base64.b64encode(hashlib.sha256(unique_key.encode()).digest()).decode()
    return digest.replace("+", "").replace("/", "").replace("=", "")[:REQUEST_ID_CHARS]


_QUEUES = cast(Table, RequestQueue.__table__)
_REQUESTS = cast(Table, QueueRequest.__table__)
Statement = tuple[Any, dict[str, Any]]  # what session.execute(*...) takes: a statement built once, its values

# Built once, the values passed apart: built on every call with their values, these statements cost
# two thirds of a queue call's CPU in SQLAlchemy's coercion and cache keys (a crawl makes three calls
# per page). Bind parameters are not named as columns: SQLAlchemy keeps those names for its own.
_other_client = and_(
    _QUEUES.c.client_key.is_not(None),
    or_(_QUEUES.c.client_key != bindparam("key"), bindparam("keyless", type_=Boolean)),
)
_touched = {
    "order_seq": _QUEUES.c.order_seq + bindparam("places", type_=BigInteger),
    "client_key": func.coalesce(_QUEUES.c.client_key, bindparam("key")),
    "had_multiple_clients": or_(_QUEUES.c.had_multiple_clients, _other_client),
    "accessed_at": bindparam("now", type_=_QUEUES.c.accessed_at.type),
}
_TOUCH = {
    write: update(_QUEUES)
    .where(_QUEUES.c.id == bindparam("queue_id"))
    .values(
        **_touched, **({"modified_at": bindparam("now", type_=_QUEUES.c.modified_at.type)} if write else {})
    )
    .returning(_QUEUES.c.order_seq, _QUEUES.c.had_multiple_clients, _QUEUES.c.modified_at)
    for write in (False, True)
}


def touch_queue(queue_id: str, client_key: str | None, *, places: int = 0, write: bool = True) -> Statement:
    """Note a client's access (hadMultipleClients) and reserve `places` order numbers.

    Returns the new order_seq: the reserved numbers are order_seq - places + 1 .. order_seq. No row:
    the queue is gone. A call without clientKey counts as a client of its own (Apify's rule).
    """
    key = client_key or ""
    params = {"queue_id": queue_id, "key": key, "keyless": key == "", "places": places, "now": utcnow()}
    return _TOUCH[write], params


_COUNT = (
    update(_QUEUES)
    .where(_QUEUES.c.id == bindparam("queue_id"))
    .values(
        total_request_count=_QUEUES.c.total_request_count + bindparam("total", type_=BigInteger),
        handled_request_count=_QUEUES.c.handled_request_count + bindparam("handled", type_=BigInteger),
    )
)


def count_change(queue_id: str, total: int, handled: int) -> Statement:
    return _COUNT, {"queue_id": queue_id, "total": total, "handled": handled}


def _insert_request(dialect: str) -> Insert:
    insert = insert_for(dialect)(_REQUESTS)
    return insert.on_conflict_do_nothing(index_elements=["queue_id", "id"]).returning(_REQUESTS.c.id)


_INSERT_REQUEST = per_dialect(_insert_request)


def insert_request(dialect: str, row: dict[str, Any]) -> Statement:
    """Insert unless the uniqueKey (hence the id) is already in the queue; RETURNING says which."""
    return _INSERT_REQUEST[dialect], row


_GET_REQUEST = select(QueueRequest).where(
    QueueRequest.queue_id == bindparam("queue_id"), QueueRequest.id == bindparam("request_id")
)


def get_request(queue_id: str, request_id: str) -> Statement:
    return _GET_REQUEST, {"queue_id": queue_id, "request_id": request_id}


# Bind parameters named new_<column>: SQLAlchemy keeps the columns' own names for itself.
_REPLACED = ("url", "method", "data", "handled_at", "order_no", "lock_expires_at", "lock_client_key")
_REPLACE = (
    update(_REQUESTS)
    .where(_REQUESTS.c.queue_id == bindparam("queue"), _REQUESTS.c.id == bindparam("request"))
    .values(**{column: bindparam(f"new_{column}", type_=_REQUESTS.c[column].type) for column in _REPLACED})
)


def replace_request(queue_id: str, request_id: str, values: dict[str, Any]) -> Statement:
    """Write these of the request's columns (all of _REPLACED)."""
    return _REPLACE, {"queue": queue_id, "request": request_id} | {f"new_{c}": values[c] for c in _REPLACED}


_HANDLED_AT = select(_REQUESTS.c.handled_at).where(
    _REQUESTS.c.queue_id == bindparam("queue_id"), _REQUESTS.c.id == bindparam("request_id")
)


def handled_at(queue_id: str, request_id: str) -> Statement:
    return _HANDLED_AT, {"queue_id": queue_id, "request_id": request_id}


# The first pending, unlocked requests: forefront ones (negative order numbers) first.
_HEAD = (
    select(QueueRequest)
    .where(
        QueueRequest.queue_id == bindparam("queue_id"),
        QueueRequest.order_no.is_not(None),
        or_(QueueRequest.lock_expires_at.is_(None), QueueRequest.lock_expires_at <= bindparam("now")),
    )
    .order_by(QueueRequest.order_no)
    .limit(bindparam("limit", type_=BigInteger))
)


def head(queue_id: str, limit: int, now: datetime) -> Statement:
    return _HEAD, {"queue_id": queue_id, "limit": limit, "now": now}


_LOCK = (
    update(_REQUESTS)
    .where(_REQUESTS.c.queue_id == bindparam("queue"), _REQUESTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        lock_expires_at=bindparam("expires", type_=_REQUESTS.c.lock_expires_at.type),
        lock_client_key=bindparam("holder"),
    )
)


def lock(queue_id: str, request_ids: list[str], expires: datetime, client_key: str | None) -> Statement:
    """Lock these requests of the queue until `expires`, for client_key."""
    return _LOCK, {"queue": queue_id, "ids": request_ids, "expires": expires, "holder": client_key}


_HAS_LOCKED = (
    select(func.count())
    .select_from(_REQUESTS)
    .where(_REQUESTS.c.queue_id == bindparam("queue_id"), _REQUESTS.c.lock_expires_at > bindparam("now"))
)


def has_locked(queue_id: str, now: datetime) -> Statement:
    return _HAS_LOCKED, {"queue_id": queue_id, "now": now}


def list_requests_stmt(
    queue_id: str, limit: int, after_id: str | None, filters: tuple[str, ...], now: datetime
) -> Select[QueueRequest]:
    """Requests by id (Apify pages them by id), optionally only the locked or the pending ones."""
    stmt = select(QueueRequest).where(QueueRequest.queue_id == queue_id)
    if after_id is not None:
        stmt = stmt.where(QueueRequest.id > after_id)
    if "locked" in filters:
        stmt = stmt.where(QueueRequest.lock_expires_at > now)
    if "pending" in filters:
        stmt = stmt.where(QueueRequest.order_no.is_not(None))
    return stmt.order_by(QueueRequest.id).limit(limit)


def unlock_client_stmt(queue_id: str, client_key: str | None, now: datetime) -> Update:
    key = QueueRequest.lock_client_key
    return (
        update(QueueRequest)
        .where(
            QueueRequest.queue_id == queue_id,
            QueueRequest.lock_expires_at > now,
            key.is_(None) if client_key is None else key == client_key,
        )
        .values(lock_expires_at=None, lock_client_key=None)
        .execution_options(synchronize_session=False)
    )


def delete_queue_stmts(queue_id: str) -> tuple[Delete, Delete]:
    """Requests first, then the queue: explicit, so it does not hang on the FK cascade being enabled."""
    return (
        delete(QueueRequest).where(QueueRequest.queue_id == queue_id),
        delete(RequestQueue).where(RequestQueue.id == queue_id),
    )
