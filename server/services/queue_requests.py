"""Adding, updating and deleting a queue's requests, with the queue's counts in the same transaction.

Each function takes the session of the caller's transaction and starts with touch_stmt, which holds
the queue row until commit (server/storage/request_queues.py): the counts stay true under concurrent
writers, and a uniqueKey is added once however many clients add it at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import InvalidInput, NotFound
from server.services.queue_drafts import Draft
from server.storage.models import QueueRequest
from server.storage.request_queues import count_stmt, get_request_stmt, insert_request_stmt, touch_stmt


@dataclass(frozen=True)
class Touched:
    """The queue row as touch_stmt left it: the last order number reserved, and the head's flags."""

    order_seq: int
    had_multiple_clients: bool
    modified_at: Any


async def touch(
    session: AsyncSession, queue_id: str, client_key: str | None, *, places: int = 0, write: bool = True
) -> Touched:
    row = (await session.execute(touch_stmt(queue_id, client_key, places=places, write=write))).one_or_none()
    if row is None:  # deleted since it was resolved
        raise NotFound("Request queue was not found")
    return Touched(row.order_seq, row.had_multiple_clients, row.modified_at)


def place(number: int, forefront: bool) -> int:
    """A request's order number: forefront ones are negative, so the latest forefront comes first."""
    return -number if forefront else number


async def add_requests(
    session: AsyncSession,
    dialect: str,
    queue_id: str,
    drafts: list[Draft],
    *,
    forefront: bool,
    client_key: str | None,
) -> list[dict[str, Any]]:
    """Add each draft unless its uniqueKey is there already; Apify's AddedRequest for each."""
    touched = await touch(session, queue_id, client_key, places=len(drafts))
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
        inserted = (await session.execute(insert_request_stmt(dialect, row))).scalar_one_or_none()
        if inserted is not None:
            added += 1
            handled += draft.handled_at is not None
            present, was_handled = False, False
        else:
            stmt = select(QueueRequest.handled_at).where(
                QueueRequest.queue_id == queue_id, QueueRequest.id == draft.id
            )
            present, was_handled = True, (await session.execute(stmt)).scalar_one() is not None
        out.append(
            {
                "requestId": draft.id,
                "uniqueKey": draft.unique_key,
                "wasAlreadyPresent": present,
                "wasAlreadyHandled": was_handled,
            }
        )
    if added:
        await session.execute(count_stmt(queue_id, added, handled))
    return out


async def get_request(session: AsyncSession, queue_id: str, request_id: str) -> QueueRequest:
    row = (await session.execute(get_request_stmt(queue_id, request_id))).scalar_one_or_none()
    if row is None:
        raise NotFound("Request was not found")
    return row


async def update_request(
    session: AsyncSession,
    queue_id: str,
    request_id: str,
    draft: Draft,
    *,
    forefront: bool,
    client_key: str | None,
) -> dict[str, Any]:
    """Replace a request. handledAt set: out of the head and unlocked; cleared: back in the queue."""
    touched = await touch(session, queue_id, client_key, places=1)
    row = await get_request(session, queue_id, request_id)
    if draft.unique_key != row.unique_key:
        raise InvalidInput("The request's 'uniqueKey' cannot be changed.")
    was_handled, now_handled = row.handled_at is not None, draft.handled_at is not None
    row.url, row.method, row.data, row.handled_at = draft.url, draft.method, draft.data, draft.handled_at
    if now_handled:
        row.order_no, row.lock_expires_at, row.lock_client_key = None, None, None
    elif was_handled or forefront:
        row.order_no = place(touched.order_seq, forefront)
    await session.flush()
    if was_handled != now_handled:
        await session.execute(count_stmt(queue_id, 0, int(now_handled) - int(was_handled)))
    return {"requestId": row.id, "wasAlreadyPresent": True, "wasAlreadyHandled": was_handled}


async def delete_requests(
    session: AsyncSession, queue_id: str, request_ids: list[str], client_key: str | None
) -> set[str]:
    """Delete the requests of these ids that exist; the ids deleted."""
    await touch(session, queue_id, client_key)
    stmt = (
        delete(QueueRequest)
        .where(QueueRequest.queue_id == queue_id, QueueRequest.id.in_(request_ids))
        .returning(QueueRequest.id, QueueRequest.handled_at)
        .execution_options(synchronize_session=False)
    )
    gone = (await session.execute(stmt)).all()
    if gone:
        handled = sum(1 for row in gone if row.handled_at is not None)
        await session.execute(count_stmt(queue_id, -len(gone), -handled))
    return {row.id for row in gone}
