"""The migrations build exactly the schema the models describe (what `alembic check` verifies)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from server.migrate import alembic_config, upgrade
from server.secrets import env_var_value
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.models import Actor, Base, Build
from tests.conftest import TEST_SECRETS_KEY


def test_models_and_migrations_agree(db: SyncDatabase) -> None:
    """The session's database was built by `alembic upgrade head`; nothing may differ from the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_0007_seals_the_secrets_stored_before_it(tmp_path: Path) -> None:
    """Secrets written before sealing existed (a plain "value"), in actors' versions and builds'
    snapshots: sealed by the migration when the key is set, and still what the worker opens."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0006")
    env_vars = [{"name": "TOKEN", "value": "hunter2", "isSecret": True}, {"name": "MODE", "value": "x"}]
    version = {"versionNumber": "0.0", "sourceType": "SOURCE_FILES", "sourceFiles": [], "envVars": env_vars}
    db = SyncDatabase(create_sync_engine(url))
    try:
        # Rows as the schema of 0006 holds them (the models describe head, with columns added since).
        with db.engine.begin() as connection:
            now = datetime.now(UTC)
            connection.execute(
                text("INSERT INTO users (id, username, created_at) VALUES ('u1', 'old', :now)"), {"now": now}
            )
            connection.execute(
                text(
                    "INSERT INTO actors (id, user_id, name, is_public, default_run_options, versions,"
                    " tagged_builds, pending_builds, created_at, modified_at)"
                    " VALUES ('a1', 'u1', 'old', false, '{}', :versions, '{}', '{}', :now, :now)"
                ),
                {"versions": json.dumps([version]), "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO builds (id, act_id, user_id, version_number, build_number, status,"
                    " source, started_at) VALUES ('b1', 'a1', 'u1', '0.0', '0.0.1', 'SUCCEEDED',"
                    " :source, :now)"
                ),
                {"source": json.dumps(version), "now": now},
            )
        upgrade(url, TEST_SECRETS_KEY)
        with db.transaction() as session:
            stored = [
                session.scalars(select(Actor)).one().versions[0],
                session.scalars(select(Build)).one().source,
            ]
    finally:
        db.engine.dispose()
    for snapshot in stored:
        secret, plain = snapshot["envVars"]
        assert "value" not in secret and env_var_value(TEST_SECRETS_KEY, secret) == "hunter2"
        assert plain == {"name": "MODE", "value": "x"}
