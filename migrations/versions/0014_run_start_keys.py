"""Idempotent run starts (issue 16): `run_start_keys` holds the Idempotency-Key each run start or
run-sync came with, so that a repeat with the same key from the same user within a day attaches to
the run it started instead of starting another (server/services/runs.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_start_keys",
        sa.Column("user_id", sa.String(17), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("run_id", sa.String(17), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_run_start_keys_run_id", "run_start_keys", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_run_start_keys_run_id", table_name="run_start_keys")
    op.drop_table("run_start_keys")
