"""A SELECT or an INSERT compiled once, run on the DB-API connection underneath a SQLAlchemy one:
the types' own bind and result processing (SQLAlchemy's), without its execution machinery.

Under GET a run, the token's lookup was about 18% of the API's samples, and SQLite's own execute
0.6% of them: the rest was SQLAlchemy's work around the statement (its compiled cache, execution
context and result), about as much for one row as the whole request's other Python
(bench/profile.py --kind get). For the hottest reads on SQLite, on the loop's kept connection
(Database.quick_rows): SQLite's driver runs a SELECT outside any transaction it opens itself
(Python's sqlite3 begins one only for a write), so the read sees every commit, as before. On
another database the statement is executed as usual.

A run's start writes four rows (its storages and itself): under a burst of starts, those inserts'
execution was about a fifth of the API's samples. An insert runs in the caller's transaction: on
the same DB-API connection, where Python's sqlite3 begins it before the first write, as it does
under SQLAlchemy, and SQLAlchemy's commit or rollback ends it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Select, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


class Prepared:
    """`statement`, compiled at its first use on SQLite (a module may make one at import: it holds
    no client)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row's values, as SQLAlchemy gives them, or None."""
        if connection.dialect.name != "sqlite":
            return connection.execute(self.statement, params).one_or_none()
        return self._on(connection.dialect).first(connection, params)

    def row(self, connection: Connection, params: Mapping[str, Any]) -> Any | None:
        """first(), as a row whose attributes are the columns' keys (what code that reads a Row
        by attribute takes: a RunRow's)."""
        if connection.dialect.name != "sqlite":
            return connection.execute(self.statement, params).one_or_none()
        compiled = self._on(connection.dialect)
        values = compiled.first(connection, params)
        return None if values is None else compiled.row_type._make(values)

    def _on(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:  # two threads may both compile it: the same result
            self._compiled = _Compiled(self.statement, dialect)
        return self._compiled


class _Compiled:
    """The statement for SQLite (a positional paramstyle, qmark)."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._binds: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, compiled.binds[name].type._cached_bind_processor(dialect))
            for name in compiled.positiontup or []
        ]
        self._results: list[Callable[[Any], Any] | None] = [
            column.type._cached_result_processor(dialect, None) for column in statement.selected_columns
        ]
        # A row's attributes are its columns' keys, as a Row's (a duplicate key is renamed).
        self.row_type = _row_type([str(column.key) for column in statement.selected_columns])

    def first(self, connection: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        args = tuple(bind(params[name]) if bind else params[name] for name, bind in self._binds)
        row = _execute(connection, self.sql, args).fetchone()
        if row is None:
            return None
        return tuple(
            result(value) if result else value for result, value in zip(self._results, row, strict=True)
        )


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
    at its first use on SQLite."""

    def __init__(self, table: Table) -> None:
        self.statement = insert(table)
        self._keys = [str(column.key) for column in table.columns]
        self._compiled: tuple[str, list[tuple[str, Callable[[Any], Any] | None]]] | None = None

    def execute(self, session: Session, row: Mapping[str, Any]) -> None:
        connection = session.connection()
        if connection.dialect.name != "sqlite":
            connection.execute(self.statement, row)
            return
        sql, binds = self._on(connection.dialect)
        _execute(connection, sql, tuple(bind(row[key]) if bind else row[key] for key, bind in binds))

    def _on(self, dialect: Dialect) -> tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self._keys)
            self._compiled = (
                str(compiled),
                [
                    (name, compiled.binds[name].type._cached_bind_processor(dialect))
                    for name in compiled.positiontup or []
                ],
            )
        return self._compiled
