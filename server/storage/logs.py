"""Run logs, stored as ordered chunks the worker appends while the run goes."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Delete, Insert, Select, Table, bindparam, delete, func, insert, select

from server.storage.models import LogChunk

# Executed with {"run_id", "seq", "content"}.
APPEND: Insert = insert(cast(Table, LogChunk.__table__))

# Executed with {"run_id"}: where a writer continues a log that may already have chunks (a run
# resurrected after it ended keeps its log and appends to it).
NEXT_SEQ: Select[int] = select(func.coalesce(func.max(LogChunk.seq) + 1, 0)).where(
    LogChunk.run_id == bindparam("run_id")
)

# Executed with {"run_id", "after_seq"}: the chunks a follower has not sent yet, in order.
READ_AFTER: Select[int, str] = (
    select(LogChunk.seq, LogChunk.content)
    .where(LogChunk.run_id == bindparam("run_id"), LogChunk.seq > bindparam("after_seq"))
    .order_by(LogChunk.seq)
)


def read_stmt(run_id: str) -> Select[str]:
    return select(LogChunk.content).where(LogChunk.run_id == run_id).order_by(LogChunk.seq)


def delete_stmt(run_id: str) -> Delete:
    return delete(LogChunk).where(LogChunk.run_id == run_id)
