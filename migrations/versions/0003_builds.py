"""Builds run on workers: their tag, options, stats, origin and log; actors' builds in progress

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    with op.batch_alter_table("actors") as batch:
        batch.add_column(sa.Column("pending_builds", _JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("builds") as batch:
        batch.add_column(sa.Column("tag", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("options", _JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("stats", _JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="API"))
        batch.add_column(sa.Column("client_ip", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.Text(), nullable=True))
        batch.create_index("ix_builds_user_started", ["user_id", "started_at"], unique=False)
    op.create_table(
        "build_log_chunks",
        sa.Column("build_id", sa.String(length=17), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["build_id"], ["builds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("build_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("build_log_chunks")
    with op.batch_alter_table("builds") as batch:
        batch.drop_index("ix_builds_user_started")
        for column in ("user_agent", "client_ip", "origin", "stats", "options", "tag"):
            batch.drop_column(column)
    with op.batch_alter_table("actors") as batch:
        batch.drop_column("pending_builds")
