"""What differs between the two databases Greenroom runs on (SQLite and PostgreSQL) in statements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")


def insert_for(dialect: str) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The dialect's own INSERT (postgresql.insert or sqlite.insert): the one with ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def per_dialect(build: Callable[[str], T]) -> dict[str, T]:
    """build(dialect) for each database, made once: a statement built per call costs SQLAlchemy more
    CPU than the SQL (coercion and cache key), so the hot ones are built at import."""
    return {dialect: build(dialect) for dialect in ("sqlite", "postgresql")}
