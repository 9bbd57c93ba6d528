"""Secret env vars at rest: sealed in every row that holds them, shown by no API answer, opened
only for the actor that runs with them; without a key, not stored at all."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pytest

from server.secrets import SecretsUnavailable, env_var_value, open_sealed, seal, seal_env_vars
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from tests.actors import files_actor
from tests.conftest import Account, new_account
from tests.rows import snapshot
from tests.stack import running
from tests.test_actor_env import DUMP_ENV

KEY = base64.b64encode(b"k" * 32).decode()


def test_sealing_is_deterministic_bound_to_the_name_and_the_key() -> None:
    sealed = seal(KEY, "TOKEN", "hunter2")
    assert sealed == seal(KEY, "TOKEN", "hunter2") and "hunter2" not in sealed
    assert open_sealed(KEY, "TOKEN", sealed) == "hunter2"
    with pytest.raises(SecretsUnavailable, match="'OTHER'"):
        open_sealed(KEY, "OTHER", sealed)  # moved to another variable
    with pytest.raises(SecretsUnavailable):
        open_sealed(base64.b64encode(b"x" * 32).decode(), "TOKEN", sealed)
    with pytest.raises(SecretsUnavailable, match="GREENROOM_SECRETS_KEY is not set"):
        seal("", "TOKEN", "hunter2")
    stored = seal_env_vars(
        KEY, [{"name": "A", "value": "1", "isSecret": False}, {"name": "T", "value": "v", "isSecret": True}]
    )
    assert stored[0] == {"name": "A", "value": "1", "isSecret": False}
    assert set(stored[1]) == {"name", "isSecret", "sealed"} and env_var_value(KEY, stored[1]) == "v"
    assert seal_env_vars(KEY, stored) == stored  # sealed once


@pytest.mark.parametrize("value", ["", "c2hvcnQ=", "not base64!"])
def test_a_bad_key_is_refused_by_name(value: str) -> None:
    if not value:
        assert Settings.from_env({"GREENROOM_SECRETS_KEY": ""}).secrets_key == ""
        return
    with pytest.raises(ValueError, match="GREENROOM_SECRETS_KEY"):
        Settings.from_env({"GREENROOM_SECRETS_KEY": value})


def test_a_secret_is_sealed_in_every_row_and_opened_only_for_the_run(
    api: httpx.Client, account: Account, db: SyncDatabase
) -> None:
    secret = "s3cret-" + uuid.uuid4().hex
    env_vars = [{"name": "API_KEY", "value": secret, "isSecret": True}, {"name": "MODE", "value": "plain"}]
    body = files_actor("keeps-secrets", {"main.py": DUMP_ENV}, envVars=env_vars)
    actor = api.post("/acts", json=body).json()["data"]
    rows = repr(snapshot(db, account.user_id))
    assert secret not in rows and "plain" in rows  # actors.versions and builds.source alike
    # No answer shows it: the actor, its version, its env vars.
    for path in (
        f"/acts/{actor['id']}",
        f"/acts/{actor['id']}/versions/0.0",
        f"/acts/{actor['id']}/versions/0.0/env-vars",
    ):
        body = api.get(path).text
        assert secret not in body and '"sealed"' not in body, (path, body)
    one = api.get(f"/acts/{actor['id']}/versions/0.0/env-vars/API_KEY").json()["data"]
    assert one == {"name": "API_KEY", "isSecret": True}
    # The run's actor gets the value.
    response = api.post(f"/acts/{actor['id']}/run-sync")
    assert response.status_code == 201, response.text
    assert response.json()["API_KEY"] == secret and response.json()["MODE"] == "plain"
    # A client that writes the version back as it read it (no secret value) keeps the secret, and
    # the unchanged version is not built again.
    builds = api.get(f"/acts/{actor['id']}/builds").json()["data"]["total"]
    version = api.get(f"/acts/{actor['id']}/versions/0.0").json()["data"]
    assert api.put(f"/acts/{actor['id']}/versions/0.0", json=version).status_code == 200
    assert api.get(f"/acts/{actor['id']}/builds").json()["data"]["total"] == builds
    assert api.post(f"/acts/{actor['id']}/run-sync").json()["API_KEY"] == secret
    rows = snapshot(db, account.user_id)  # the OUTPUT records hold what the actor wrote: its env
    assert secret not in repr(rows["actors"]) + repr(rows["builds"])


def test_without_a_key_secrets_are_refused_and_nothing_is_written(isolated_settings: Settings) -> None:
    own = isolated_settings.with_(secrets_key="")
    alice: Account = new_account(own)
    db = SyncDatabase(create_sync_engine(own.sql_url))
    try:
        with running(own, workers=0) as stack, stack.client(alice.token) as api:
            before = snapshot(db, alice.user_id)
            body = files_actor(
                "no-key", {"main.py": "print(1)"}, envVars=[{"name": "T", "value": "v", "isSecret": True}]
            )
            response = api.post("/acts", json=body)
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["type"] == "invalid-input" and "GREENROOM_SECRETS_KEY" in error["message"]
            assert snapshot(db, alice.user_id) == before
            # Plain variables need no key.
            body["versions"][0]["envVars"] = [{"name": "T", "value": "v"}]
            assert api.post("/acts", json=body).status_code == 201
    finally:
        db.engine.dispose()


def test_dev_makes_a_key_once(tmp_path: Path) -> None:
    from server.cli.dev import secrets_key as _secrets_key

    settings = Settings(data_dir=tmp_path)
    key = _secrets_key(settings)
    assert Settings.from_env({"GREENROOM_SECRETS_KEY": key}).secrets_key == key
    assert _secrets_key(settings) == key
    assert (tmp_path / "secrets-key").stat().st_mode & 0o077 == 0
