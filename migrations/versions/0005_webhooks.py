"""Webhooks (persistent and ad hoc) and their dispatches, written with the status change that fires them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True)
_ID = sa.String(length=17)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # The `webhooks` parameter's webhooks are rows of `webhooks` now (isAdHoc, condition: the run).
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("webhooks")
    op.create_table(
        "webhooks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("is_ad_hoc", sa.Boolean(), nullable=False),
        sa.Column("event_types", _JSON, nullable=False),
        sa.Column("condition_actor_id", _ID, nullable=True),
        sa.Column("condition_task_id", _ID, nullable=True),
        sa.Column("condition_run_id", _ID, nullable=True),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("payload_template", sa.Text(), nullable=True),
        sa.Column("headers_template", sa.Text(), nullable=True),
        sa.Column("should_interpolate_strings", sa.Boolean(), nullable=False),
        sa.Column("ignore_ssl_errors", sa.Boolean(), nullable=False),
        sa.Column("do_not_retry", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("signing_secret", sa.String(length=256), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("modified_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "idempotency_key"),
    )
    with op.batch_alter_table("webhooks") as batch:
        batch.create_index("ix_webhooks_user_created", ["user_id", "created_at"], unique=False)
        batch.create_index("ix_webhooks_user_run", ["user_id", "condition_run_id"], unique=False)
        batch.create_index("ix_webhooks_condition_actor_id", ["condition_actor_id"], unique=False)
        batch.create_index("ix_webhooks_condition_task_id", ["condition_task_id"], unique=False)
    op.create_table(
        "webhook_dispatches",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("webhook_id", _ID, nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("event_data", _JSON, nullable=True),
        sa.Column("resource", _JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("calls", _JSON, nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("lease_expires_at", _TIME, nullable=True),
        sa.Column("lease_owner", sa.String(length=32), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_dispatches") as batch:
        batch.create_index("ix_webhook_dispatches_user_created", ["user_id", "created_at"], unique=False)
        batch.create_index(
            "ix_webhook_dispatches_webhook_created", ["webhook_id", "created_at"], unique=False
        )
        batch.create_index("ix_webhook_dispatches_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("webhook_dispatches")
    op.drop_table("webhooks")
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("webhooks", _JSON, nullable=True))
