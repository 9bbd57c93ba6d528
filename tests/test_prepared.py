"""A prepared read (server/storage/prepared.py) gives what SQLAlchemy's execution of the same
statement gives: the same values, of the same types, and the same rows left out (the token's
read and a GET's run, each on every request that makes it)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from server.services.accounts import _BY_TOKEN, _params, token_holder_sync
from server.storage.db import SyncDatabase
from server.storage.ids import hash_token, utcnow
from server.storage.models import ApiToken
from server.storage.prepared import Prepared
from server.storage.runs import RUN_ROW_OF_USER
from server.users import create_token, create_user
from tests.actors import callable_actor


def test_a_token_read_prepared_is_the_token_read(db: SyncDatabase) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared reads are SQLite's")
    user, token = create_user(db, f"p{uuid.uuid4().hex[:12]}")
    expiring = create_token(db, user.username, expires_at=utcnow() + timedelta(days=1))
    expired = create_token(db, user.username, expires_at=utcnow() - timedelta(seconds=1))
    with db.begin() as connection:
        connection.execute(
            update(ApiToken).where(ApiToken.token_hash == hash_token(token)).values(last_used_at=utcnow())
        )
    found = {}
    with db.engine.connect() as connection:
        prepared = Prepared(_BY_TOKEN)
        for name, each in (("own", token), ("expiring", expiring), ("expired", expired), ("none", "x")):
            by_sqlalchemy = connection.execute(_BY_TOKEN, _params(each)).one_or_none()
            found[name] = prepared.first(connection, _params(each))
            assert found[name] == (tuple(by_sqlalchemy) if by_sqlalchemy is not None else None)
            if by_sqlalchemy is not None:
                assert [type(v) for v in found[name] or ()] == [type(v) for v in by_sqlalchemy]
        holder = token_holder_sync(connection, token)
    assert found["own"] is not None and found["expiring"] is not None
    assert found["expired"] is None and found["none"] is None
    assert holder is not None and holder.user.id == user.id and holder.last_used_at is not None


def test_a_run_read_prepared_is_the_run_read(db: SyncDatabase, api: httpx.Client) -> None:
    """Every column of a run, its JSON and datetimes too, by attribute as a Row gives them."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared reads are SQLite's")
    actor = api.post("/acts", json=callable_actor(f"prep-{uuid.uuid4().hex[:6]}", "echo")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}, json={"a": 1}).json()["data"]
    params = {"run_id": run["id"], "owner": actor["userId"]}
    with db.engine.connect() as connection:
        by_sqlalchemy = connection.execute(RUN_ROW_OF_USER, params).one()
        prepared = Prepared(RUN_ROW_OF_USER)
        row = prepared.row(connection, params)
        missing = prepared.row(connection, {**params, "owner": "someone else"})
    assert missing is None
    for key in by_sqlalchemy._mapping:
        assert getattr(row, key) == getattr(by_sqlalchemy, key), key
        assert type(getattr(row, key)) is type(getattr(by_sqlalchemy, key)), key
    assert row.status == "SUCCEEDED" and isinstance(row.options, dict) and isinstance(row.stats, dict)
