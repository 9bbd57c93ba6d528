"""What differs between the two databases Greenroom runs on (SQLite and PostgreSQL) in statements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite


def insert_for(dialect: str) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The dialect's own INSERT (postgresql.insert or sqlite.insert): the one with ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
