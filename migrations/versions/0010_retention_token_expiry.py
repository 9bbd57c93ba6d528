"""Data retention (server/storage/retention.py): runs.finished_at is indexed, so the sweeper finds the
oldest finished runs without a scan, and each storage table's act_run_id, so a run's unnamed storages
are found when it is deleted (also when its actor is). And api_tokens.expires_at, for tokens made
with `greenroom tokens create --expires DAYS` (NULL: never expires, as every token made before).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STORAGES = ("key_value_stores", "datasets", "request_queues")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_runs_finished_at", "runs", ["finished_at"])
    for table in STORAGES:
        op.create_index(f"ix_{table}_act_run_id", table, ["act_run_id"])


def downgrade() -> None:
    for table in STORAGES:
        op.drop_index(f"ix_{table}_act_run_id", table_name=table)
    op.drop_index("ix_runs_finished_at", table_name="runs")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
