"""Run logs, stored as ordered chunks the worker appends while the run goes."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Insert, Select, Table, insert, select

from server.storage.models import LogChunk

# Executed with {"run_id", "seq", "content"}.
APPEND: Insert = insert(cast(Table, LogChunk.__table__))


def read_stmt(run_id: str) -> Select[str]:
    return select(LogChunk.content).where(LogChunk.run_id == run_id).order_by(LogChunk.seq)
