"""Run logs, stored as ordered chunks the worker appends while the run goes."""

from __future__ import annotations

from sqlalchemy import Insert, Select, insert, select

from server.storage.models import LogChunk


def append_stmt(run_id: str, seq: int, content: str) -> Insert:
    return insert(LogChunk).values(run_id=run_id, seq=seq, content=content)


def read_stmt(run_id: str) -> Select[str]:
    return select(LogChunk.content).where(LogChunk.run_id == run_id).order_by(LogChunk.seq)
