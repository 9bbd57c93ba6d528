"""Apify Proxy: users.proxy_password, the password users/me shows as `proxy.password` (unique: the
proxy finds the user by it). Users made before get one here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import secrets
import string

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _password() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("proxy_password", sa.String(length=32), nullable=True))
    users = sa.table("users", sa.column("id"), sa.column("proxy_password"))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == user_id).values(proxy_password=_password()))
    with op.batch_alter_table("users") as batch:
        batch.create_index("ix_users_proxy_password", ["proxy_password"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_proxy_password")
        batch.drop_column("proxy_password")
