"""Per-user limits and fair share (issue 14): `user_limits` holds one user's overrides of the
limits in Settings (GREENROOM_MAX_CONCURRENT_RUNS, ...), and `runs.queue_name` names the RQ queue
whose workers take the run, so that a worker claims the fairest READY run of its own queue
(worker/fair.py) and never one that another deployment sharing the database would run.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_limits",
        sa.Column("user_id", sa.String(17), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("max_concurrent_runs", sa.Integer(), nullable=True),
        sa.Column("max_running_memory_mbytes", sa.Integer(), nullable=True),
        sa.Column("max_run_memory_mbytes", sa.Integer(), nullable=True),
        sa.Column("max_ready_runs", sa.Integer(), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("queue_name", sa.String(64), nullable=True))
    # A user's active and READY runs are counted at every start and run end.
    op.create_index("ix_runs_user_status", "runs", ["user_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_runs_user_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("queue_name")
    op.drop_table("user_limits")
