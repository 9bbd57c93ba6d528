"""Run statements, built once. Every status change is a compare-and-set: UPDATE ... WHERE status IN (...).

Statements are module constants executed with parameters: on the run's hot path, building a
statement costs more than running it (0.77 ms against 0.15 ms for the claim on SQLite here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)

from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.models import (
    ApiToken,
    Dataset,
    DatasetItem,
    KeyValueRecord,
    KeyValueStore,
    LogChunk,
    QueueRequest,
    RequestQueue,
    Run,
)
from server.storage.prepared import Prepared

RUNS = cast(Table, Run.__table__)
ACTIVE = (RunStatus.RUNNING, RunStatus.TIMING_OUT, RunStatus.ABORTING)

GET_RUN: Select[Run] = select(Run).where(Run.id == bindparam("run_id"))

# A run as a row (server/storage/rows.py): a GET's, a woken waiter's.
RUN_ROW_OF_USER: Select[Any] = select(*RUNS.columns).where(
    RUNS.c.id == bindparam("run_id"), RUNS.c.user_id == bindparam("owner")
)
RUN_ROWS: Select[Any] = select(*RUNS.columns).where(RUNS.c.id.in_(bindparam("ids", expanding=True)))
# A run-sync's woken waiter needs only these (server/storage/rows.py RunEnd): decoding the run's JSON
# columns was a third of the API's CPU in a burst of finishes (bench/hold.py --profile).
RUN_ENDS: Select[Any] = select(
    RUNS.c.id, RUNS.c.user_id, RUNS.c.status, RUNS.c.default_key_value_store_id, RUNS.c.default_dataset_id
).where(RUNS.c.id.in_(bindparam("ids", expanding=True)))

# READY -> RUNNING, with the attempt's lease (executed with {"run_id", "owner", "until"}). A job
# delivered twice finds the run no longer READY and does nothing.
CLAIM: Update = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), RUNS.c.status == RunStatus.READY.value)
    .values(
        status=RunStatus.RUNNING.value,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=RUNS.c.lease_expires_at.type),
    )
)

DELETE_RUN_TOKENS: Delete = delete(cast(Table, ApiToken.__table__)).where(
    ApiToken.__table__.c.run_id == bindparam("run_id")
)


def transition_stmt(run_id: str, from_statuses: Iterable[RunStatus], **values: Any) -> Update:
    """Move a run only if it is still in one of from_statuses; rowcount says whether it moved."""
    return (
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_([s.value for s in from_statuses]))
        .values(**values)
    )


def status_is(statuses: Iterable[str]) -> ColumnElement[bool]:
    """A run's status IN (...) as ORs, which SQLite and PostgreSQL plan as the IN: a prepared
    statement (server/storage/prepared.py) takes no IN list."""
    return or_(*(RUNS.c.status == status for status in statuses))


def _finish(keep_progress_message: bool, owned: bool) -> Update:
    # The actor's own last word stays when it marked it terminal, or (keep_progress_message) when
    # the run succeeded; a failure or timeout replaces a progress message with its cause.
    keep: ColumnElement[bool] = RUNS.c.is_status_message_terminal.is_(True)
    if keep_progress_message:
        keep = or_(keep, RUNS.c.status_message.is_not(None))
    # owned: the worker ends only the attempt it claimed (its lease_owner), never a run that the
    # sweeper restarted elsewhere while this worker was stalled.
    where = (
        [status_is([s.value for s in ACTIVE]), RUNS.c.lease_owner == bindparam("owner")]
        if owned
        else [status_is([s.value for s in (RunStatus.READY, *ACTIVE)])]
    )
    return (
        update(RUNS)
        .where(RUNS.c.id == bindparam("run_id"), *where)
        .values(
            status=bindparam("new_status"),
            exit_code=bindparam("new_exit_code"),
            stats=bindparam("new_stats", type_=RUNS.c.stats.type),
            finished_at=bindparam("new_finished_at", type_=RUNS.c.finished_at.type),
            status_message=case((keep, RUNS.c.status_message), else_=bindparam("new_message")),
            lease_expires_at=None,
        )
    )


# Every run's end: prepared on SQLite.
_FINISH = {(keep, owned): Prepared(_finish(keep, owned)) for keep in (True, False) for owned in (True, False)}


def finish(
    run_id: str,
    status: RunStatus,
    *,
    exit_code: int | None,
    status_message: str,
    stats: dict[str, Any],
    finished_at: datetime | None = None,
    owner: str | None = None,
) -> tuple[Prepared, dict[str, Any]]:
    """The statement and parameters that end a run that is not yet terminal (and, given an owner,
    still held by that attempt); its execute() says whether it did (1) or not (0)."""
    params = {
        "owner": owner,
        "run_id": run_id,
        "new_status": status.value,
        "new_exit_code": exit_code,
        "new_stats": stats,
        "new_finished_at": finished_at or utcnow(),
        "new_message": status_message,
    }
    return _FINISH[(status is RunStatus.SUCCEEDED, owner is not None)], params


@dataclass(frozen=True)
class RunFilter:
    """Which of a user's runs a list or "last run" looks at. Times are UTC (aware or naive)."""

    user_id: str
    act_id: str | None = None
    actor_task_id: str | None = None
    statuses: tuple[str, ...] = ()
    origin: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [Run.user_id == self.user_id]
        if self.act_id is not None:
            clauses.append(Run.act_id == self.act_id)
        if self.actor_task_id is not None:
            clauses.append(Run.actor_task_id == self.actor_task_id)
        if self.statuses:
            clauses.append(Run.status.in_(self.statuses))
        if self.origin is not None:
            clauses.append(Run.origin == self.origin)
        # Both bounds inclusive, as Apify documents them, at the millisecond the API shows: a run
        # shown as started at ...:24.202Z (stored with microseconds) is "before ...:24.202Z".
        if self.started_after is not None:
            clauses.append(Run.started_at >= _to_ms(self.started_after))
        if self.started_before is not None:
            clauses.append(Run.started_at < _to_ms(self.started_before) + timedelta(milliseconds=1))
        return clauses


def _to_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def list_runs_stmt(runs: RunFilter, offset: int, limit: int, desc: bool) -> Select[Run]:
    """By startedAt, then id: runs started in the same millisecond keep one order across pages."""
    order = (Run.started_at.desc(), Run.id.desc()) if desc else (Run.started_at.asc(), Run.id.asc())
    return select(Run).where(*runs.where()).order_by(*order).offset(offset).limit(limit)


def count_runs_stmt(runs: RunFilter) -> Select[int]:
    return select(func.count()).select_from(Run).where(*runs.where())


def last_run_stmt(runs: RunFilter) -> Select[Run]:
    return select(Run).where(*runs.where()).order_by(Run.started_at.desc(), Run.id.desc()).limit(1)


def delete_finished_run_stmt(run_id: str) -> Delete:
    """Deletes the run only if it is terminal (rowcount 0: it is not, or it is gone)."""
    terminal = [s.value for s in RunStatus if s.is_terminal]
    return delete(Run).where(Run.id == run_id, Run.status.in_(terminal))


def delete_run_children_stmts(run: Run) -> list[Delete]:
    """What a deleted run leaves behind: its log, its default storages and their contents, its token.
    Run in the same transaction as delete_finished_run_stmt."""
    store, dataset = run.default_key_value_store_id, run.default_dataset_id
    return [
        delete(LogChunk).where(LogChunk.run_id == run.id),
        delete(KeyValueRecord).where(KeyValueRecord.store_id == store),
        delete(KeyValueStore).where(KeyValueStore.id == store),
        delete(DatasetItem).where(DatasetItem.dataset_id == dataset),
        delete(Dataset).where(Dataset.id == dataset),
        delete(QueueRequest).where(QueueRequest.queue_id == run.default_request_queue_id),
        delete(RequestQueue).where(RequestQueue.id == run.default_request_queue_id),
        delete(cast(Table, ApiToken.__table__)).where(ApiToken.__table__.c.run_id == run.id),
    ]


# Executed with {"run_id"}: the status alone, for log followers that re-read it on each wake-up.
RUN_STATUS: Select[str] = select(RUNS.c.status).where(RUNS.c.id == bindparam("run_id"))
