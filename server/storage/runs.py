"""Run statements, built once. Every status change is a compare-and-set: UPDATE ... WHERE status IN (...).

Statements are module constants executed with parameters: on the run's hot path, building a
statement costs more than running it (0.77 ms against 0.15 ms for the claim on SQLite here).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
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
    or_,
    select,
    update,
)

from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.models import ApiToken, Run

RUNS = cast(Table, Run.__table__)
ACTIVE = (RunStatus.RUNNING, RunStatus.TIMING_OUT, RunStatus.ABORTING)

GET_RUN: Select[Run] = select(Run).where(Run.id == bindparam("run_id"))

# READY -> RUNNING. A job delivered twice finds the run no longer READY and does nothing.
CLAIM: Update = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), RUNS.c.status == RunStatus.READY.value)
    .values(status=RunStatus.RUNNING.value)
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


def _finish(keep_progress_message: bool) -> Update:
    # The actor's own last word stays when it marked it terminal, or (keep_progress_message) when
    # the run succeeded; a failure or timeout replaces a progress message with its cause.
    keep: ColumnElement[bool] = RUNS.c.is_status_message_terminal.is_(True)
    if keep_progress_message:
        keep = or_(keep, RUNS.c.status_message.is_not(None))
    return (
        update(RUNS)
        .where(
            RUNS.c.id == bindparam("run_id"),
            RUNS.c.status.in_([s.value for s in (RunStatus.READY, *ACTIVE)]),
        )
        .values(
            status=bindparam("new_status"),
            exit_code=bindparam("new_exit_code"),
            stats=bindparam("new_stats", type_=RUNS.c.stats.type),
            finished_at=bindparam("new_finished_at", type_=RUNS.c.finished_at.type),
            status_message=case((keep, RUNS.c.status_message), else_=bindparam("new_message")),
        )
    )


_FINISH_SUCCEEDED = _finish(keep_progress_message=True)
_FINISH_OTHER = _finish(keep_progress_message=False)


def finish(
    run_id: str,
    status: RunStatus,
    *,
    exit_code: int | None,
    status_message: str,
    stats: dict[str, Any],
    finished_at: datetime | None = None,
) -> tuple[Update, dict[str, Any]]:
    """The statement and parameters that end a run that is not yet terminal."""
    params = {
        "run_id": run_id,
        "new_status": status.value,
        "new_exit_code": exit_code,
        "new_stats": stats,
        "new_finished_at": finished_at or utcnow(),
        "new_message": status_message,
    }
    return (_FINISH_SUCCEEDED if status is RunStatus.SUCCEEDED else _FINISH_OTHER), params
