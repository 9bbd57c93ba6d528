"""Adding, updating and deleting a queue's requests, with the queue's counts in the same transaction.

Each function takes the session of the caller's transaction and starts with touch_queue, which holds
the queue row until commit (server/storage/request_queues.py): the counts stay true under concurrent
writers, and a uniqueKey is added once however many clients add it at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.services.queue_drafts import Draft
from server.storage import request_queues as stmts
from server.storage.models import QueueRequest


@dataclass(frozen=True)
class Touched:
    """The queue row as touch_queue left it: the last order number reserved, and the head's flags."""

    order_seq: int
    had_multiple_clients: bool
    modified_at: Any


def touch(
    session: Session, queue_id: str, client_key: str | None, *, places: int = 0, write: bool = True
) -> Touched:
    row = session.execute(*stmts.touch_queue(queue_id, client_key, places=places, write=write)).one_or_none()
    if row is None:  # deleted since it was resolved
        raise NotFound("Request queue was not found")
    return Touched(row.order_seq, row.had_multiple_clients, row.modified_at)


def place(number: int, forefront: bool) -> int:
    """A request's order number: forefront ones are negative, so the latest forefront comes first."""
    return -number if forefront else number


def add_requests(
    session: Session,
    dialect: str,
    queue_id: str,
    drafts: list[Draft],
    *,
    forefront: bool,
    client_key: str | None,
) -> list[dict[str, Any]]:
    """Add each draft unless its uniqueKey is there already; Apify's AddedRequest for each."""
    touched = touch(session, queue_id, client_key, places=len(drafts))
    first = touched.order_seq - len(drafts) + 1
    added = handled = 0
    out = []
    for i, draft in enumerate(drafts):
        row = {
            "queue_id": queue_id,
            "id": draft.id,
            "unique_key": draft.unique_key,
            "url": draft.url,
            "method": draft.method,
            "data": draft.data,
            "order_no": None if draft.handled_at else place(first + i, forefront),
            "handled_at": draft.handled_at,
            "lock_expires_at": None,
            "lock_client_key": None,
        }
        inserted = session.execute(*stmts.insert_request(dialect, row)).scalar_one_or_none()
        if inserted is not None:
            added += 1
            handled += draft.handled_at is not None
            present, was_handled = False, False
        else:
            was = session.execute(*stmts.handled_at(queue_id, draft.id)).scalar_one()
            present, was_handled = True, was is not None
        out.append(
            {
                "requestId": draft.id,
                "uniqueKey": draft.unique_key,
                "wasAlreadyPresent": present,
                "wasAlreadyHandled": was_handled,
            }
        )
    if added:
        session.execute(*stmts.count_change(queue_id, added, handled))
    return out


def get_request(session: Session, queue_id: str, request_id: str) -> QueueRequest:
    row: QueueRequest | None = session.execute(*stmts.get_request(queue_id, request_id)).scalar_one_or_none()
    if row is None:
        raise NotFound("Request was not found")
    return row


def update_request(
    session: Session,
    queue_id: str,
    request_id: str,
    draft: Draft,
    *,
    forefront: bool,
    client_key: str | None,
) -> dict[str, Any]:
    """Replace a request. handledAt set: out of the head and unlocked; cleared: back in the queue."""
    touched = touch(session, queue_id, client_key, places=1)
    row = get_request(session, queue_id, request_id)
    if draft.unique_key != row.unique_key:
        raise InvalidInput("The request's 'uniqueKey' cannot be changed.")
    was_handled, now_handled = row.handled_at is not None, draft.handled_at is not None
    order_no, lock_expires_at, lock_client_key = row.order_no, row.lock_expires_at, row.lock_client_key
    if now_handled:
        order_no, lock_expires_at, lock_client_key = None, None, None
    elif was_handled or forefront:
        order_no = place(touched.order_seq, forefront)
    values = {
        "url": draft.url,
        "method": draft.method,
        "data": draft.data,
        "handled_at": draft.handled_at,
        "order_no": order_no,
        "lock_expires_at": lock_expires_at,
        "lock_client_key": lock_client_key,
    }
    session.execute(*stmts.replace_request(queue_id, request_id, values))
    if was_handled != now_handled:
        session.execute(*stmts.count_change(queue_id, 0, int(now_handled) - int(was_handled)))
    return {"requestId": row.id, "wasAlreadyPresent": True, "wasAlreadyHandled": was_handled}


def delete_requests(
    session: Session, queue_id: str, request_ids: list[str], client_key: str | None
) -> set[str]:
    """Delete the requests of these ids that exist; the ids deleted."""
    touch(session, queue_id, client_key)
    stmt = (
        delete(QueueRequest)
        .where(QueueRequest.queue_id == queue_id, QueueRequest.id.in_(request_ids))
        .returning(QueueRequest.id, QueueRequest.handled_at)
        .execution_options(synchronize_session=False)
    )
    gone = session.execute(stmt).all()
    if gone:
        handled = sum(1 for row in gone if row.handled_at is not None)
        session.execute(*stmts.count_change(queue_id, -len(gone), -handled))
    return {row.id for row in gone}
