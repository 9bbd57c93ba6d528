"""Leases: the worker running a run or build renews lease_expires_at; a sweeper fails (or restarts)
what a dead worker left RUNNING. runs.lease_owner names the attempt that holds the lease, so a
stalled worker cannot renew or finish a run that was restarted elsewhere

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("runs", "builds"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
            batch.create_index(f"ix_{table}_lease_expires_at", ["lease_expires_at"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_owner")
    for table in ("runs", "builds"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_lease_expires_at")
            batch.drop_column("lease_expires_at")
