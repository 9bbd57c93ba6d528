"""Actor Standby (issue 16): an actor's `actorStandby` settings, and the address a standby run
answers at once it has passed its readiness probe (`runs.standby_url`, written by its worker).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actors") as batch:
        batch.add_column(sa.Column("actor_standby", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("standby_url", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("standby_url")
    with op.batch_alter_table("actors") as batch:
        batch.drop_column("actor_standby")
