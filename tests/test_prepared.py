"""A prepared read (server/storage/prepared.py) gives what SQLAlchemy's execution of the same
statement gives: the same values, of the same types, and the same rows left out (the token's
read and a GET's run, each on every request that makes it). A prepared insert (a run's start)
stores what SQLAlchemy's insert of the same row stores, in the caller's transaction."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import timedelta
from typing import Any, NamedTuple

import httpx
import pytest
from sqlalchemy import insert, select, update

from server.services.accounts import _BY_TOKEN, _params, token_holder_sync
from server.services.resolve import _row_by_column, task_and_actor_rows
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.ids import hash_token, new_id, utcnow
from server.storage.key_value_stores import _UPSERT, TOUCH_STORE
from server.storage.limits import _LIMITS_AND_USAGE, CLAIM_NEXT, defaults_of
from server.storage.models import Actor, ApiToken, Base, KeyValueStore, RequestQueue, Task, UserLimits
from server.storage.prepared import Prepared, PreparedInsert
from server.storage.runs import DELETE_RUN_TOKENS, RUN_ROW_OF_USER, finish
from server.users import create_token, create_user
from tests.actors import callable_actor
from tests.runs_db import insert_run
from tests.stack import Stack
from worker.run_spec import _SPEC


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
        row = prepared.first(connection, params)
        missing = prepared.first(connection, {**params, "owner": "someone else"})
    assert missing is None
    for key in by_sqlalchemy._mapping:
        assert getattr(row, key) == getattr(by_sqlalchemy, key), key
        assert type(getattr(row, key)) is type(getattr(by_sqlalchemy, key)), key
    assert row.status == "SUCCEEDED" and isinstance(row.options, dict) and isinstance(row.stats, dict)


class _Caller(NamedTuple):
    id: str
    username: str


class _RolledBack(Exception):
    pass


def test_a_starts_rows_inserted_prepared_are_what_sqlalchemy_inserts(
    db: SyncDatabase, api: httpx.Client
) -> None:
    """A run started through the API (its rows written prepared), each row copied under a new id
    once by SQLAlchemy's insert and once prepared: what SQLite stores is the same, column by column.
    The copies go with the transaction's rollback: the prepared insert is in the caller's."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared inserts are SQLite's")
    actor = api.post("/acts", json=callable_actor(f"ins-{uuid.uuid4().hex[:6]}", "echo")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}, json={"a": 1}).json()["data"]
    rows = {
        "runs": run["id"],
        "key_value_stores": run["defaultKeyValueStoreId"],
        "datasets": run["defaultDatasetId"],
        "request_queues": run["defaultRequestQueueId"],
    }
    copies: list[tuple[str, str]] = []
    with pytest.raises(_RolledBack), db.transaction() as session:
        driver = session.connection().connection.driver_connection
        assert driver is not None
        for name, row_id in rows.items():
            table = Base.metadata.tables[name]
            values = dict(session.execute(select(table).where(table.c.id == row_id)).one()._mapping)
            by_sqlalchemy, prepared = new_id(), new_id()
            session.connection().execute(insert(table), {**values, "id": by_sqlalchemy})
            PreparedInsert(table).execute(session, {**values, "id": prepared})
            stored = {
                found[0]: found[1:]
                for found in driver.execute(
                    f"SELECT * FROM {name} WHERE id IN (?, ?, ?)", (row_id, by_sqlalchemy, prepared)
                )
            }
            assert stored[prepared] == stored[by_sqlalchemy] == stored[row_id], name
            copies += [(name, by_sqlalchemy), (name, prepared)]
        raise _RolledBack
    with db.begin() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        for name, copy in copies:
            assert driver.execute(f"SELECT count(*) FROM {name} WHERE id = ?", (copy,)).fetchone() == (0,)


def test_a_start_that_meets_the_write_lock_waits_for_it(db: SyncDatabase, api: httpx.Client) -> None:
    """A start tried on the loop's thread meets the lock at its first (prepared) insert, and is
    done again in a writer thread that waits: the driver's error is raised as SQLAlchemy's. Before,
    it escaped as sqlite3's own, and the start answered 500."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared inserts are SQLite's")
    actor = api.post("/acts", json=callable_actor(f"lock-{uuid.uuid4().hex[:6]}", "noop")).json()["data"]
    holder = sqlite3.connect(str(db.engine.url.database), check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the database's write lock, as a worker's transaction holds it
        release = threading.Timer(0.5, holder.rollback)
        release.start()
        started = api.post(f"/acts/{actor['id']}/runs", json={})
        release.join()
    finally:
        holder.close()
    assert started.status_code == 201, started.text


def test_an_actor_task_store_or_queue_read_prepared_is_the_read(db: SyncDatabase, api: httpx.Client) -> None:
    """What every start (its actor, or its task and the task's actor) and every storage call (its
    store or queue) reads: each column's value and type as SQLAlchemy gives them, by id and by name."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared reads are SQLite's")
    name = f"prep-{uuid.uuid4().hex[:6]}"
    actor = api.post("/acts", json=callable_actor(name, "echo")).json()["data"]
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": f"{name}-task"}).json()["data"]
    run = api.post(f"/actor-tasks/{task['id']}/runs", params={"waitForFinish": 60}).json()["data"]
    owner = actor["userId"]
    read = [
        (Actor, "id", actor["id"]),
        (Actor, "name", name),
        (Task, "id", task["id"]),
        (KeyValueStore, "id", run["defaultKeyValueStoreId"]),
        (RequestQueue, "id", run["defaultRequestQueueId"]),
    ]
    with db.engine.connect() as connection:
        for model, column, ref in read:
            prepared = _row_by_column(model, column)
            by_sqlalchemy = connection.execute(prepared.statement, {"ref": ref, "owner": owner}).one()
            row = prepared.first(connection, {"ref": ref, "owner": owner})
            assert row is not None, (model, column)
            for key in by_sqlalchemy._mapping:
                assert getattr(row, key) == getattr(by_sqlalchemy, key), (model, key)
                assert type(getattr(row, key)) is type(getattr(by_sqlalchemy, key)), (model, key)
            assert prepared.first(connection, {"ref": ref, "owner": "someone else"}) is None
        task_row, actor_row = task_and_actor_rows(connection, _Caller(owner, "x"), task["id"])  # type: ignore[arg-type]
    assert task_row.id == task["id"] and actor_row.id == actor["id"]
    assert isinstance(actor_row.default_run_options, dict)


def test_a_users_limits_and_usage_read_prepared_are_the_read(db: SyncDatabase, stack: Stack) -> None:
    """Every start and every run's end read them: an override, the settings, READY and active runs
    (the statement's own values too: the statuses it counts, the JSON path of a run's memory)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared reads are SQLite's")
    user, token = create_user(db, f"l{uuid.uuid4().hex[:12]}")
    with stack.client(token) as api:
        actor = api.post("/acts", json=callable_actor(f"lim-{uuid.uuid4().hex[:6]}", "noop")).json()["data"]
    with db.begin() as connection:
        connection.execute(insert(UserLimits).values(user_id=user.id, max_ready_runs=7))
    for status in (RunStatus.READY, RunStatus.READY, RunStatus.RUNNING, RunStatus.SUCCEEDED):
        insert_run(db, actor["id"], status)
    found = {}
    with db.engine.connect() as connection:
        for who in (user.id, "nobody"):
            params = {"user_id": who, **defaults_of(Settings())}
            by_sqlalchemy = tuple(connection.execute(_LIMITS_AND_USAGE, params).one())
            found[who] = Prepared(_LIMITS_AND_USAGE).first(connection, params)
            assert found[who] == by_sqlalchemy, who
    assert list(found[user.id] or ())[3:] == [7, 1, 1024, 2]  # max READY runs, then the usage
    assert list(found["nobody"] or ())[4:] == [0, 0, 0]


def test_a_statement_with_an_in_list_is_refused_when_prepared(db: SyncDatabase) -> None:
    """SQLAlchemy renders an IN list's parameters at each execution: a prepared one would send
    the wrong ones, so it is refused at once."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared reads are SQLite's")
    runs = Base.metadata.tables["runs"]
    with db.engine.connect() as connection, pytest.raises(ValueError, match="IN list"):
        Prepared(select(runs.c.id).where(runs.c.status.in_(["READY", "RUNNING"]))).first(connection, {})


def test_a_claim_and_an_end_prepared_write_what_sqlalchemy_writes(
    db: SyncDatabase, api: httpx.Client
) -> None:
    """A worker's claim (an UPDATE ... RETURNING), the spec it reads, the run's token it inserts,
    and the run's end (an UPDATE, then a DELETE of the token): once through SQLAlchemy and once
    prepared, each in a transaction rolled back. What each returns, and what SQLite stores after
    each, are the same; the end matches once, then not again."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared statements are SQLite's")
    actor = api.post("/acts", json=callable_actor(f"cl-{uuid.uuid4().hex[:6]}", "noop")).json()["data"]
    run_id = insert_run(db, actor["id"], RunStatus.READY)
    moment = utcnow()
    claim = {
        "queue": "nobody's",  # the job's own run is a candidate whatever its queue
        "job_run_id": run_id,
        "owner": "attempt-1",
        "until": moment + timedelta(minutes=1),
        **defaults_of(Settings()),
    }
    token = {"id": new_id(), "user_id": actor["userId"], "token_hash": hash_token(new_id()), "run_id": run_id}
    token_row = {**token, "created_at": moment, "expires_at": None, "description": None, "last_used_at": None}
    ending, end = finish(
        run_id, RunStatus.SUCCEEDED, exit_code=0, status_message="done", stats={"n": 1}, owner="attempt-1"
    )
    seen = {}
    for how in ("sqlalchemy", "prepared"):
        with pytest.raises(_RolledBack), db.begin() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None

            if how == "sqlalchemy":
                claimed = tuple(connection.execute(CLAIM_NEXT, claim).one())
                spec = tuple(connection.execute(_SPEC, {"run_id": run_id}).one())
                connection.execute(insert(ApiToken), {**token, "created_at": moment})
                after_claim = (
                    _stored(driver, "runs", run_id),
                    _stored(driver, "api_tokens", run_id, "run_id"),
                )
                moved = [connection.execute(ending.statement, end).rowcount for _ in range(2)]
                deleted = connection.execute(DELETE_RUN_TOKENS, {"run_id": run_id}).rowcount
            else:
                claimed = tuple(Prepared(CLAIM_NEXT).first(connection, claim) or ())
                spec = tuple(Prepared(_SPEC).first(connection, {"run_id": run_id}) or ())
                PreparedInsert(ApiToken.__table__).execute(connection, token_row)  # type: ignore[arg-type]
                after_claim = (
                    _stored(driver, "runs", run_id),
                    _stored(driver, "api_tokens", run_id, "run_id"),
                )
                moved = [ending.execute(connection, end) for _ in range(2)]
                deleted = Prepared(DELETE_RUN_TOKENS).execute(connection, {"run_id": run_id})
            seen[how] = (
                claimed,
                spec,
                [type(v) for v in spec],
                after_claim,
                moved,
                deleted,
                _stored(driver, "runs", run_id),
            )
            raise _RolledBack
    assert seen["prepared"] == seen["sqlalchemy"]
    claimed, _spec, _types, (run_claimed, tokens), moved, deleted, run_ended = seen["prepared"]
    assert claimed == (run_id, actor["userId"]) and len(tokens) == 1
    assert moved == [1, 0] and deleted == 1
    assert "RUNNING" in run_claimed[0] and "SUCCEEDED" in run_ended[0]
    with db.begin() as connection:  # both rolled back: the run is READY, as it was
        assert (
            connection.execute(
                select(Base.metadata.tables["runs"].c.status).where(
                    Base.metadata.tables["runs"].c.id == run_id
                )
            ).scalar_one()
            == "READY"
        )
        connection.execute(
            update(Base.metadata.tables["runs"])
            .where(Base.metadata.tables["runs"].c.id == run_id)
            .values(status="SUCCEEDED")
        )  # no sweeper is to find it READY and without a job


def _stored(driver: sqlite3.Connection, table: str, value: str, key: str = "id") -> tuple[Any, ...]:
    """The rows as SQLite stores them."""
    return tuple(driver.execute(f"SELECT * FROM {table} WHERE {key} = ?", (value,)).fetchall())


def test_a_records_put_prepared_writes_what_sqlalchemy_writes(db: SyncDatabase, api: httpx.Client) -> None:
    """A record's put (the store's touch, an UPDATE ... RETURNING, then the record's upsert): once
    through SQLAlchemy and once prepared, each in a transaction rolled back, a new key and then the
    same key again (the upsert's conflict). What each returns and what SQLite stores are the same;
    another user's store is not touched."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("prepared statements are SQLite's")
    store = api.post("/key-value-stores", params={"name": f"put-{uuid.uuid4().hex[:8]}"}).json()["data"]
    touch = TOUCH_STORE["name"]
    mine = {"ref": store["name"], "owner": store["userId"], "now": utcnow()}
    theirs = {**mine, "owner": "someone-else"}
    upsert = _UPSERT["sqlite"]
    seen = {}
    for how in ("sqlalchemy", "prepared"):
        with pytest.raises(_RolledBack), db.begin() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            stored = []
            if how == "sqlalchemy":
                touched = [connection.execute(touch.statement, p).one_or_none() for p in (mine, theirs)]
            else:
                touched = [touch.first(connection, p) for p in (mine, theirs)]
            for value, encoding in ((b'{"a": 1}', None), (b"\x1f\x8b second", "gzip")):
                row = {
                    "store_id": store["id"],
                    "key": "k",
                    "value": value,
                    "content_type": "application/json",
                    "content_encoding": encoding,
                    "size": len(value),
                    "modified_at": mine["now"],
                }
                if how == "sqlalchemy":
                    connection.execute(upsert.statement, row)
                else:
                    upsert.execute(connection, row)
                stored.append(_stored(driver, "key_value_records", store["id"], "store_id"))
            seen[how] = ([None if t is None else tuple(t) for t in touched], stored)
            raise _RolledBack
    assert seen["prepared"] == seen["sqlalchemy"]
    touched, (first, second) = seen["prepared"]
    assert touched == [(store["id"],), None]
    assert (
        len(first) == len(second) == 1
        and first[0][2] == b'{"a": 1}'
        and second[0][2:4]
        == (
            b"\x1f\x8b second",
            "application/json",
        )
    )
