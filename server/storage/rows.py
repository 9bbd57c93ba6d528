"""Resources read as rows of their tables, for the reads that only show or use them (every request's
token, a GET of a run or a record, a start's task and actor, a request queue's calls, a woken
waiter's run and record).

A Row has the same attributes as the model's entity (every column's attribute is named as the
column), without the ORM building the entity, which costs more than the SELECT: a token and a run
read as entities cost 335 us of CPU, as rows 130 (bench/db_reads.py). Read on Database.quick_rows.
A *View is what code that only reads takes: the entity or its row.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import Row

from server.storage.models import Actor, KeyValueRecord, RequestQueue, Run, Task

RunRow: TypeAlias = Row[Any]
# A run's id, user_id, status and default storages' ids only (storage/runs.py RUN_ENDS): what a
# run-sync answers from.
RunEnd: TypeAlias = Row[Any]
RunView: TypeAlias = "Run | RunRow"
RecordRow: TypeAlias = Row[Any]
RecordView: TypeAlias = "KeyValueRecord | RecordRow"
ActorView: TypeAlias = "Actor | Row[Any]"
TaskView: TypeAlias = "Task | Row[Any]"
QueueView: TypeAlias = "RequestQueue | Row[Any]"
