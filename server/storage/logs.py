"""Run and build logs, stored as ordered chunks the worker appends while the job goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Delete, Insert, Select, Table, bindparam, delete, func, insert, select

from server.storage.models import Build, BuildLogChunk, LogChunk, Run

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


@dataclass(frozen=True)
class LogTable:
    """One kind of log (a run's, a build's): its statements, all executed with {key: the job's id}."""

    key: str
    append: Insert  # {key, "seq", "content"}
    next_seq: Select[int]  # {key}
    read_after: Select[int, str]  # {key, "after_seq"}: the chunks after a seq, in order
    status: Select[str]  # {key}: the job's status (none: the job is gone)


RUN_LOG = LogTable(
    "run_id",
    APPEND,
    NEXT_SEQ,
    READ_AFTER,
    select(Run.status).where(Run.id == bindparam("run_id")),
)
BUILD_LOG = LogTable(
    "build_id",
    insert(cast(Table, BuildLogChunk.__table__)),
    select(func.coalesce(func.max(BuildLogChunk.seq) + 1, 0)).where(
        BuildLogChunk.build_id == bindparam("build_id")
    ),
    select(BuildLogChunk.seq, BuildLogChunk.content)
    .where(BuildLogChunk.build_id == bindparam("build_id"), BuildLogChunk.seq > bindparam("after_seq"))
    .order_by(BuildLogChunk.seq),
    select(Build.status).where(Build.id == bindparam("build_id")),
)
