"""Pay-per-event charges, metamorphs and reboots, signed storage URLs:
- actors.pricing_infos: Apify's pricingInfos (the newest entry in force is the run's pricingInfo);
- runs.pricing_info, runs.charged_event_counts, and run_charges (one row per charge, unique per
  idempotency key, so a retried charge is counted once);
- runs.metamorphs (Apify's list of {createdAt, actorId, buildId, inputKey}) and runs.input_key (the
  record the actor reads its input from: INPUT until a metamorph gives it another);
- runs.reboot_count: asked-for reboots, which the worker running the run watches;
- datasets and key-value stores get their own url_signing_secret_key (old rows are given one here).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STORAGES = ("datasets", "key_value_stores")


def upgrade() -> None:
    with op.batch_alter_table("actors") as batch:
        batch.add_column(sa.Column("pricing_infos", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("pricing_info", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("charged_event_counts", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("metamorphs", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("input_key", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("reboot_count", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "run_charges",
        sa.Column("id", sa.String(length=17), primary_key=True),
        sa.Column(
            "run_id", sa.String(length=17), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event_name", sa.String(length=256), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "idempotency_key", name="uq_run_charges_run_id_idempotency_key"),
    )
    connection = op.get_bind()
    for table in STORAGES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("url_signing_secret_key", sa.String(length=64), nullable=True))
        target = sa.table(table, sa.column("id"), sa.column("url_signing_secret_key"))
        for (row_id,) in connection.execute(sa.select(target.c.id)).all():
            connection.execute(
                target.update()
                .where(target.c.id == row_id)
                .values(url_signing_secret_key=secrets.token_hex(16))
            )


def downgrade() -> None:
    for table in STORAGES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("url_signing_secret_key")
    op.drop_table("run_charges")
    with op.batch_alter_table("runs") as batch:
        for column in ("reboot_count", "input_key", "metamorphs", "charged_event_counts", "pricing_info"):
            batch.drop_column(column)
    with op.batch_alter_table("actors") as batch:
        batch.drop_column("pricing_infos")
