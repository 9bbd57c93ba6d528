"""Request queues and their requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(length=17)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "request_queues",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=True),
        sa.Column("act_id", _ID, nullable=True),
        sa.Column("act_run_id", _ID, nullable=True),
        sa.Column("total_request_count", sa.BigInteger(), nullable=False),
        sa.Column("handled_request_count", sa.BigInteger(), nullable=False),
        sa.Column("order_seq", sa.BigInteger(), nullable=False),
        sa.Column("client_key", sa.String(length=32), nullable=True),
        sa.Column("had_multiple_clients", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("modified_at", _TIME, nullable=False),
        sa.Column("accessed_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "name"),
    )
    op.create_table(
        "queue_requests",
        sa.Column("queue_id", _ID, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("unique_key", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("order_no", sa.BigInteger(), nullable=True),
        sa.Column("handled_at", _TIME, nullable=True),
        sa.Column("lock_expires_at", _TIME, nullable=True),
        sa.Column("lock_client_key", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["queue_id"], ["request_queues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("queue_id", "id"),
    )
    with op.batch_alter_table("queue_requests") as batch:
        batch.create_index("ix_queue_requests_head", ["queue_id", "order_no"], unique=False)
    # Runs made before this revision have a default_request_queue_id with no queue behind it.
    op.execute(
        "INSERT INTO request_queues (id, user_id, name, act_id, act_run_id, total_request_count,"
        " handled_request_count, order_seq, client_key, had_multiple_clients, created_at,"
        " modified_at, accessed_at)"
        " SELECT default_request_queue_id, user_id, NULL, act_id, id, 0, 0, 0, NULL, false,"
        " started_at, started_at, started_at FROM runs"
    )


def downgrade() -> None:
    op.drop_table("queue_requests")
    op.drop_table("request_queues")
