"""Request queue statements. Every write to a queue's requests starts with touch_stmt, whose UPDATE
of the queue row holds that row until commit: writers of one queue go one at a time, so counts, order
numbers and locks never race (SQLite serialises all writers anyway)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Select, Update, and_, delete, func, literal, or_, select, update
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from server.storage.dialects import insert_for
from server.storage.ids import utcnow
from server.storage.models import QueueRequest, RequestQueue

REQUEST_ID_CHARS = 15


def request_id_of(unique_key: str) -> str:
    """Apify's id of a uniqueKey (the clients compute the same one to cache requests locally)."""
    digest = base64.b64encode(hashlib.sha256(unique_key.encode()).digest()).decode()
    return digest.replace("+", "").replace("/", "").replace("=", "")[:REQUEST_ID_CHARS]


def touch_stmt(queue_id: str, client_key: str | None, *, places: int = 0, write: bool = True) -> Update:
    """Note a client's access (hadMultipleClients) and reserve `places` order numbers.

    Returns the new order_seq: the reserved numbers are order_seq - places + 1 .. order_seq. No row:
    the queue is gone. A call without clientKey counts as a client of its own (Apify's rule).
    """
    key = client_key or ""
    now = utcnow()
    other: ColumnElement[bool] = and_(
        RequestQueue.client_key.is_not(None),
        or_(RequestQueue.client_key != key, literal(key == "")),
    )
    values: dict[str, Any] = {
        "order_seq": RequestQueue.order_seq + places,
        "client_key": func.coalesce(RequestQueue.client_key, key),
        "had_multiple_clients": or_(RequestQueue.had_multiple_clients, other),
        "accessed_at": now,
    }
    if write:
        values["modified_at"] = now
    return (
        update(RequestQueue)
        .where(RequestQueue.id == queue_id)
        .values(**values)
        .returning(RequestQueue.order_seq, RequestQueue.had_multiple_clients, RequestQueue.modified_at)
    )


def count_stmt(queue_id: str, total: int, handled: int) -> Update:
    return (
        update(RequestQueue)
        .where(RequestQueue.id == queue_id)
        .values(
            total_request_count=RequestQueue.total_request_count + total,
            handled_request_count=RequestQueue.handled_request_count + handled,
        )
    )


def insert_request_stmt(dialect: str, row: dict[str, Any]) -> Insert:
    """Insert unless the uniqueKey (hence the id) is already in the queue; RETURNING says which."""
    insert = insert_for(dialect)
    stmt = insert(QueueRequest).values(**row).on_conflict_do_nothing(index_elements=["queue_id", "id"])
    return stmt.returning(QueueRequest.id)


def get_request_stmt(queue_id: str, request_id: str) -> Select[QueueRequest]:
    return select(QueueRequest).where(QueueRequest.queue_id == queue_id, QueueRequest.id == request_id)


def unlocked(now: datetime) -> ColumnElement[bool]:
    return or_(QueueRequest.lock_expires_at.is_(None), QueueRequest.lock_expires_at <= now)


def head_stmt(queue_id: str, limit: int, now: datetime) -> Select[QueueRequest]:
    """The first pending, unlocked requests: forefront ones (negative order numbers) first."""
    return (
        select(QueueRequest)
        .where(QueueRequest.queue_id == queue_id, QueueRequest.order_no.is_not(None), unlocked(now))
        .order_by(QueueRequest.order_no)
        .limit(limit)
    )


def has_locked_stmt(queue_id: str, now: datetime) -> Select[int]:
    return (
        select(func.count())
        .select_from(QueueRequest)
        .where(QueueRequest.queue_id == queue_id, QueueRequest.lock_expires_at > now)
    )


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
