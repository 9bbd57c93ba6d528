"""Find a user's resource by id, `username~name` or `~name`. Other users' resources are not found."""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Row, Select, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.errors import ActorNotFound, NotFound
from server.storage.models import Actor, Dataset, KeyValueStore, RequestQueue, Run, Task, User
from server.storage.prepared import Prepared
from server.storage.rows import ActorView, QueueView, RunRow, TaskView
from server.storage.runs import RUN_ROW_OF_USER

M = TypeVar("M", Actor, Task, KeyValueStore, Dataset, RequestQueue, Run)


def ref_column(user: User, ref: str) -> tuple[str, str] | None:
    """The column ("id" or "name") and the value ref names one of the user's resources by; None if
    ref cannot name one of theirs."""
    if "\x00" in ref:  # no name or id holds NUL, and PostgreSQL refuses it in a text parameter
        return None
    if "~" in ref:
        username, _, name = ref.partition("~")
        if username and username != user.username:
            return None
        return "name", name
    return "id", ref


@functools.cache
def _by_column(model: type[M], column: str) -> Select[M]:
    """One of a user's resources by a column's value (bound as `ref`, the user as `owner`), built
    once per model and column: building a statement and its cache key per call was a third of
    a read by id (a GET of a run)."""
    return select(model).where(
        getattr(model, column) == bindparam("ref"), model.user_id == bindparam("owner")
    )


def _ref_stmt(model: type[M], user: User, ref: str) -> tuple[Select[M], dict[str, str]] | None:
    """The statement and parameters of the user's resource named by ref; None if ref cannot name
    one of theirs."""
    named = ref_column(user, ref)
    if named is None:
        return None
    return _by_column(model, named[0]), {"ref": named[1], "owner": user.id}


async def _by_ref(session: AsyncSession, model: type[M], user: User, ref: str) -> M | None:
    found = _ref_stmt(model, user, ref)
    return None if found is None else (await session.execute(*found)).scalar_one_or_none()


def _by_ref_sync(session: Session, model: type[M], user: User, ref: str) -> M | None:
    """_by_ref in a sync session (Database.quick_read and quick_write: the paths every run takes)."""
    found = _ref_stmt(model, user, ref)
    return None if found is None else session.execute(*found).scalar_one_or_none()


@functools.cache
def _row_by_column(model: type[M], column: str) -> Prepared:
    """_by_column's statement, of the table's columns: rows, not entities (server/storage/rows.py),
    prepared (every start reads its actor or task, every storage call its store or queue)."""
    table = cast(Table, model.__table__)
    return Prepared(
        select(*table.columns).where(
            table.c[column] == bindparam("ref"), table.c.user_id == bindparam("owner")
        )
    )


def _row_by_ref(connection: Connection, model: type[M], user: User, ref: str) -> Row[Any] | None:
    """_by_ref_sync as a row (Database.quick_rows)."""
    named = ref_column(user, ref)
    if named is None:
        return None
    column, value = named
    row: Row[Any] | None = _row_by_column(model, column).first(connection, {"ref": value, "owner": user.id})
    return row


_ACTORS = cast(Table, Actor.__table__)
_ACTOR_ROW_BY_ID = Prepared(select(*_ACTORS.columns).where(_ACTORS.c.id == bindparam("id")))


def task_and_actor_rows(connection: Connection, user: User, task_ref: str) -> tuple[TaskView, ActorView]:
    """A task of the user and its actor, as rows (every task start)."""
    task = _row_by_ref(connection, Task, user, task_ref)
    if task is None:
        raise NotFound("Actor task was not found")
    actor = _ACTOR_ROW_BY_ID.first(connection, {"id": task.act_id})
    if actor is None:  # deleted meanwhile
        raise ActorNotFound()
    return task, actor


def actor_row(connection: Connection, user: User, ref: str) -> ActorView:
    """An actor of the user, as a row (every actor start)."""
    actor = _row_by_ref(connection, Actor, user, ref)
    if actor is None:
        raise ActorNotFound()
    return actor


def actor_sync(session: Session, user: User, ref: str) -> Actor:
    actor = _by_ref_sync(session, Actor, user, ref)
    if actor is None:
        raise ActorNotFound()
    return actor


def dataset_sync(session: Session, user: User, ref: str) -> Dataset:
    dataset = _by_ref_sync(session, Dataset, user, ref)
    if dataset is None:
        raise NotFound("Dataset was not found")
    return dataset


def key_value_store_sync(session: Session, user: User, ref: str) -> KeyValueStore:
    store = _by_ref_sync(session, KeyValueStore, user, ref)
    if store is None:
        raise NotFound("Key-value store was not found")
    return store


def key_value_store_id(connection: Connection, user: User, ref: str) -> str:
    """The id of a key-value store of the user, read as a row (a record's GET: an actor reads its
    INPUT so at every start)."""
    store = _row_by_ref(connection, KeyValueStore, user, ref)
    if store is None:
        raise NotFound("Key-value store was not found")
    return str(store.id)


def request_queue_row(connection: Connection, user: User, ref: str) -> QueueView:
    """A queue of the user, as a row (every request queue call: the hottest path of a crawl)."""
    queue = _row_by_ref(connection, RequestQueue, user, ref)
    if queue is None:
        raise NotFound("Request queue was not found")
    return queue


async def get_actor(session: AsyncSession, user: User, ref: str) -> Actor:
    actor = await _by_ref(session, Actor, user, ref)
    if actor is None:
        raise ActorNotFound()
    return actor


async def get_task(session: AsyncSession, user: User, ref: str) -> Task:
    task = await _by_ref(session, Task, user, ref)
    if task is None:
        raise NotFound("Actor task was not found")
    return task


async def get_key_value_store(session: AsyncSession, user: User, ref: str) -> KeyValueStore:
    store = await _by_ref(session, KeyValueStore, user, ref)
    if store is None:
        raise NotFound("Key-value store was not found")
    return store


async def get_dataset(session: AsyncSession, user: User, ref: str) -> Dataset:
    dataset = await _by_ref(session, Dataset, user, ref)
    if dataset is None:
        raise NotFound("Dataset was not found")
    return dataset


async def get_request_queue(session: AsyncSession, user: User, ref: str) -> RequestQueue:
    queue = await _by_ref(session, RequestQueue, user, ref)
    if queue is None:
        raise NotFound("Request queue was not found")
    return queue


def _run_of(user: User, run_id: str) -> tuple[Select[Run], dict[str, str]]:
    if "\x00" in run_id:
        raise NotFound("Actor run was not found")
    return _by_column(Run, "id"), {"ref": run_id, "owner": user.id}


def _found(run: Run | None) -> Run:
    if run is None:
        raise NotFound("Actor run was not found")
    return run


async def get_run(session: AsyncSession, user: User, run_id: str) -> Run:
    return _found((await session.execute(*_run_of(user, run_id))).scalar_one_or_none())


def run_row(connection: Connection, user: User, run_id: str) -> RunRow:
    """A run of the user as a row, to show it (Database.quick_rows)."""
    found = {"run_id": run_id, "owner": user.id}
    row = None if "\x00" in run_id else _RUN_OF_USER.first(connection, found)  # on every GET of a run
    if row is None:
        raise NotFound("Actor run was not found")
    return cast(RunRow, row)


_RUN_OF_USER = Prepared(RUN_ROW_OF_USER)


S = TypeVar("S", Dataset, KeyValueStore)


async def find_storage_of_anyone(session: AsyncSession, model: type[S], ref: str) -> S | None:
    """A dataset or key-value store by id or `username~name`, whoever owns it: for reads that a
    storage signature opens, where the signature, not a token, says who may read. `~name` names a
    storage of the token's user only, so it finds nothing here."""
    if "\x00" in ref:
        return None
    if "~" not in ref:
        return (await session.execute(select(model).where(model.id == ref))).scalar_one_or_none()
    username, _, name = ref.partition("~")
    if not username:
        return None
    owner = select(User.id).where(User.username == username).scalar_subquery()
    stmt = select(model).where(model.user_id == owner, model.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_run_of_anyone(session: AsyncSession, run_id: str) -> Run | None:
    """A run by id, whoever owns it: for its default storages' signed reads, where a signature of
    the storage, not a token, says who may read."""
    if "\x00" in run_id:
        return None
    return (await session.execute(select(Run).where(Run.id == run_id))).scalar_one_or_none()
