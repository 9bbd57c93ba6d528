"""The context a PYTHON_CALLABLE actor gets: its input, its default storages, a log, a status message."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from server.storage.datasets import append_items, dumped
from server.storage.db import SyncDatabase
from server.storage.key_value_stores import get_record_stmt, is_valid_key, upsert_record
from server.storage.models import Run
from worker.runners.base import RunSpec

_UNREAD = object()


class ActorContext:
    """Passed to `function(context)`. Every call writes straight to storage in its own transaction.

    `db` is called at the first storage call, and the log is made at its first use: a callable that
    touches neither pays for neither (in a forked child, every object it touches is a page copied).
    """

    def __init__(self, spec: RunSpec, db: Callable[[], SyncDatabase]):
        self._spec = spec
        self._open_db = db
        self.run_id = spec.run_id
        self._input: Any = _UNREAD

    @functools.cached_property
    def _db(self) -> SyncDatabase:
        return self._open_db()

    @functools.cached_property
    def log(self) -> logging.Logger:
        log = logging.getLogger(f"actor.{self._spec.actor_name}")
        if not log.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            # Its own handler writes the run log; the worker's (server/observability/logs.py) must
            # not write each line a second time.
            log.propagate = False
        return log

    @property
    def input(self) -> Any:
        """The run's input record (INPUT, or a metamorph's), read on first use (a callable that ignores
        it costs no query)."""
        if self._input is _UNREAD:
            self._input = self.get_value(self._spec.input_key)
        return self._input

    def get_value(self, key: str) -> Any:
        """A record of the default store: parsed JSON, text for text/*, else bytes; None if missing."""
        with self._db.transaction() as session:
            record = session.execute(
                get_record_stmt(self._spec.default_key_value_store_id, key)
            ).scalar_one_or_none()
        if record is None:
            return None
        if record.content_type.startswith("application/json"):
            return json.loads(record.value)
        if record.content_type.startswith("text/"):
            return record.value.decode()
        return record.value

    def set_value(self, key: str, value: Any, content_type: str | None = None) -> None:
        if not is_valid_key(key):
            raise ValueError(f"invalid record key {key!r}")
        if isinstance(value, bytes):
            data, ctype = value, content_type or "application/octet-stream"
        elif isinstance(value, str) and content_type and not content_type.startswith("application/json"):
            data, ctype = value.encode(), content_type
        else:
            data, ctype = (
                json.dumps(value, ensure_ascii=False).encode(),
                content_type or "application/json; charset=utf-8",
            )
        with self._db.transaction() as session:
            store_id = self._spec.default_key_value_store_id
            upsert_record(session, self._db.dialect, store_id, key, data, ctype, None)

    def push_data(self, items: dict[str, Any] | list[dict[str, Any]]) -> None:
        batch = [items] if isinstance(items, dict) else list(items)
        if not batch:
            return
        with self._db.transaction() as session:
            if not append_items(session, self._spec.default_dataset_id, dumped(batch)):
                raise LookupError(f"the run's dataset {self._spec.default_dataset_id} is gone")

    def set_status_message(self, message: str, *, is_terminal: bool = False) -> None:
        with self._db.transaction() as session:
            session.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(status_message=message, is_status_message_terminal=is_terminal)
            )
