"""A SELECT or an INSERT compiled once, run on the DB-API connection underneath a SQLAlchemy one:
the types' own bind and result processing (SQLAlchemy's), without its execution machinery.

Under GET a run, the token's lookup was about 18% of the API's samples, and SQLite's own execute
0.6% of them: the rest was SQLAlchemy's work around the statement (its compiled cache, execution
context and result), about as much for one row as the whole request's other Python
(bench/profile.py --kind get). For the hottest reads on SQLite, on the loop's kept connection
(Database.quick_rows): SQLite's driver runs a SELECT outside any transaction it opens itself
(Python's sqlite3 begins one only for a write), so the read sees every commit, as before. On
another database, or under aiosqlite, the statement is executed as usual.

Every start reads its actor (or task) and its user's limits and usage, and writes four rows (its
storages and itself): through SQLAlchemy's execution these were most of the start's transaction
under a burst of starts (py-spy on bench/hold.py's API). Prepared, a callable run-sync cost the API
0.84x the CPU (bench/cost.py). An insert runs in the caller's transaction: on the same DB-API
connection, where Python's sqlite3 begins it before the first write, as it does under SQLAlchemy,
and SQLAlchemy's commit or rollback ends it.

A worker's claim (its UPDATE ... RETURNING, the spec it reads, the run's token) and a run's end (its
UPDATE and the token's DELETE) are prepared too: the pool's CPU per run was 0.92x for a no-op callable
and 0.95-0.96x for a process actor, with either side started first (bench/cost.py --rounds 4).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, Select, Table, insert
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert, UpdateBase


class Prepared:
    """`statement`, compiled at its first use on SQLite (a module may make one at import: it holds
    no client): a SELECT, or an UPDATE or DELETE (with or without RETURNING)."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any | None:
        """The first row, or None: its values as SQLAlchemy gives them, in a tuple whose attributes
        are the columns' keys (what code that reads a Row by attribute takes: a RunRow's)."""
        if not _on_pysqlite(connection):
            return connection.execute(self.statement, params).one_or_none()
        return self._on(connection.dialect).first(connection, params)

    def execute(self, handle: Session | Connection, params: Mapping[str, Any]) -> int:
        """An UPDATE or DELETE without RETURNING, in the session's or connection's transaction: the
        rows it matched (a CursorResult's rowcount)."""
        connection = _connection_of(handle)
        if not _on_pysqlite(connection):
            return int(connection.execute(self.statement, params).rowcount)
        return int(self._on(connection.dialect).cursor(connection, params).rowcount)

    def _on(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:  # two threads may both compile it: the same result
            self._compiled = _Compiled(self.statement, dialect)
        return self._compiled


class _Compiled:
    """The statement for SQLite (a positional paramstyle, qmark)."""

    def __init__(self, statement: Select[Any] | UpdateBase, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._dml = not isinstance(statement, Select)
        self._binds = _binds(compiled, dialect)
        # A SELECT's columns, or a DML's RETURNING ones (none without it).
        columns = statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
        self._results: list[Callable[[Any], Any] | None] = [
            column.type._cached_result_processor(dialect, None) for column in columns
        ]
        # A row's attributes are its columns' keys, as a Row's (a duplicate key is renamed).
        self.row_type = _row_type([str(column.key) for column in columns])

    def cursor(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        return _execute(connection, self.sql, _args(self._binds, params))

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any | None:
        cursor = self.cursor(connection, params)
        # A DML's RETURNING rows are read to the end: its statement is then done, as SQLAlchemy
        # leaves it (a commit with one still stepping fails on SQLite).
        row = next(iter(cursor.fetchall()), None) if self._dml else cursor.fetchone()
        return None if row is None else self._row(row)

    def _row(self, row: tuple[Any, ...]) -> Any:
        return self.row_type._make(
            result(value) if result else value for result, value in zip(self._results, row, strict=True)
        )


def _connection_of(handle: Session | Connection) -> Connection:
    return handle if isinstance(handle, Connection) else handle.connection()


def _on_pysqlite(connection: Connection) -> bool:
    """SQLite through Python's own driver: not aiosqlite under an AsyncSession's run_sync, whose
    driver connection is asynchronous."""
    return connection.dialect.name == "sqlite" and connection.dialect.driver == "pysqlite"


def _execute(connection: Connection, sql: str, args: tuple[Any, ...]) -> Any:
    """The driver's cursor; its errors raised as SQLAlchemy raises them (OperationalError and the
    like), which the callers handle: a write that met the lock is done again in a writer thread
    (Database._quick), a key already taken is an IntegrityError."""
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        return driver.execute(sql, args)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, connection.dialect.loaded_dbapi.Error) from exc


def _row_type(keys: list[str]) -> Any:
    """A tuple type whose attributes are `keys` (a duplicate renamed, as namedtuple does)."""
    return namedtuple("PreparedRow", keys, rename=True)


class PreparedInsert:
    """An INSERT of one row of `table`, every column given (server/services/runs.py _row), compiled
    at its first use on SQLite; `statement`: the table's INSERT with more to it (an ON CONFLICT)."""

    def __init__(self, table: Table, statement: Insert | None = None) -> None:
        self.statement = insert(table) if statement is None else statement
        self._keys = [str(column.key) for column in table.columns]
        self._compiled: tuple[str, list[_Bind]] | None = None

    def execute(self, handle: Session | Connection, row: Mapping[str, Any]) -> None:
        connection = _connection_of(handle)
        if not _on_pysqlite(connection):
            connection.execute(self.statement, row)
            return
        sql, binds = self._on(connection.dialect)
        _execute(connection, sql, _args(binds, row))

    def _on(self, dialect: Dialect) -> tuple[str, list[_Bind]]:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self._keys)
            self._compiled = (str(compiled), _binds(compiled, dialect))
        return self._compiled


class _Bind(NamedTuple):
    name: str
    process: Callable[[Any], Any] | None  # the type's bind processor, if it has one
    given: bool  # taken from the caller's params; else the statement's own value
    value: Any


def _binds(compiled: Compiled, dialect: Dialect) -> list[_Bind]:
    """The statement's parameters in their positional order (a name once per place it is used)."""
    binds = []
    for name in getattr(compiled, "positiontup", None) or []:
        bind = compiled.binds[name]  # type: ignore[attr-defined]
        if bind.expanding:  # rendered at each execution by SQLAlchemy
            raise ValueError(f"a prepared statement takes no IN list ({name}): write its ORs")
        value = None if bind.required else bind.effective_value
        binds.append(_Bind(name, bind.type._cached_bind_processor(dialect), bind.required, value))
    return binds


def _args(binds: list[_Bind], params: Mapping[str, Any]) -> tuple[Any, ...]:
    args = []
    for bind in binds:
        value = params[bind.name] if bind.given else bind.value
        args.append(bind.process(value) if bind.process else value)
    return tuple(args)
