"""Secret env vars sealed at rest (server/secrets.py): the plain values of secrets in actors'
versions and builds' snapshots, sealed with GREENROOM_SECRETS_KEY. Without a key the rows stay as
they are (workers still read them) and the next save of each version seals it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from server.secrets import seal_env_vars
from server.settings import Settings

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def _sealed(versions: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [v | {"envVars": seal_env_vars(key, v.get("envVars") or [])} for v in versions]


def _has_plain_secret(versions: list[dict[str, Any]]) -> bool:
    return any(var.get("isSecret") and "value" in var for v in versions for var in v.get("envVars") or [])


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    key = context.config.attributes.get("secrets_key") or Settings.from_env().secrets_key
    connection = op.get_bind()
    rows = [
        ("actors", "versions", True),
        ("builds", "source", False),
    ]
    plain = 0
    for table, column, is_list in rows:
        target = sa.table(table, sa.column("id"), sa.column(column, sa.JSON))
        for row_id, raw in connection.execute(sa.select(target.c.id, target.c[column])).all():
            value = _load(raw)
            versions = value if is_list else [value]
            if not isinstance(versions, list) or not _has_plain_secret(versions):
                continue
            if not key:
                plain += 1
                continue
            sealed = _sealed(versions, key)
            new = sealed if is_list else sealed[0]
            connection.execute(sa.update(target).where(target.c.id == row_id).values({column: new}))
    if plain:
        log.warning(
            "%d rows hold secret env vars in plain text: set GREENROOM_SECRETS_KEY and migrate again", plain
        )


def downgrade() -> None:
    pass  # sealed values stay sealed: the key opens them
